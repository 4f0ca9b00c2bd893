//! Basic auth on the scrape path (`cargo bench --bench web_auth`): what a request costs when its
//! credentials are already in the verdict cache, against the bcrypt a request would cost
//! without it (cost 10, htpasswd's `-C 10`). The cache is why a scrape every 15 s does not burn
//! a bcrypt each time.

use std::hint::black_box;

use base64::Engine as _;
use bedrock_access_exporter::web::auth::{Authenticator, Users};
use bedrock_access_exporter::web::file::User;
use criterion::{Criterion, criterion_group, criterion_main};

fn header(user: &str, password: &str) -> Vec<u8> {
    let b64 = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    format!("Basic {b64}").into_bytes()
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let hash = bcrypt::hash("scrape-me", 10).expect("hash");
    let users = Users::new(&[User {
        name: "prometheus".into(),
        hash: hash.clone(),
        cost: 10,
    }]);
    let auth = Authenticator::new();
    let right = header("prometheus", "scrape-me");
    assert!(rt.block_on(auth.check(&users, Some(&right))));

    let mut g = c.benchmark_group("basic_auth");
    g.bench_function("cached verdict (every scrape after the first)", |b| {
        b.iter(|| rt.block_on(auth.check(&users, Some(black_box(&right)))))
    });
    g.sample_size(10);
    g.bench_function(
        "bcrypt cost 10 (what each scrape would cost uncached)",
        |b| b.iter(|| bcrypt::verify(black_box("scrape-me"), black_box(&hash))),
    );
    g.finish();
    assert_eq!(auth.bcrypt_runs(), 1);
}

criterion_group!(benches, bench);
criterion_main!(benches);
