//! The bundled AWS simulator: STS, Bedrock, Bedrock runtime (and IAM) on one loopback listener,
//! authorizing every request from a scenario file. The exporter's modules never import it.
