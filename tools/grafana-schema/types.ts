// Types the dashboards are checked against: Grafana's published ones (@grafana/schema, pinned in
// package.json), adapted only to how JSON spells them.
import type { Dashboard, DataQuery, FieldConfig, FieldConfigSource, Panel, RowPanel } from '@grafana/schema';
import type * as BarGauge from '@grafana/schema/dist/esm/raw/composable/bargauge/panelcfg/x/BarGaugePanelCfg_types.gen';
import type * as Stat from '@grafana/schema/dist/esm/raw/composable/stat/panelcfg/x/StatPanelCfg_types.gen';
import type * as StateTimeline from '@grafana/schema/dist/esm/raw/composable/statetimeline/panelcfg/x/StateTimelinePanelCfg_types.gen';
import type * as Table from '@grafana/schema/dist/esm/raw/composable/table/panelcfg/x/TablePanelCfg_types.gen';
import type * as Text from '@grafana/schema/dist/esm/raw/composable/text/panelcfg/x/TextPanelCfg_types.gen';
import type * as TimeSeries from '@grafana/schema/dist/esm/raw/composable/timeseries/panelcfg/x/TimeSeriesPanelCfg_types.gen';

// JSON cannot name a TypeScript enum member: a string enum is spelt as one of its values
// (`${E}` is exactly that union), a numeric enum as a number literal (already assignable).
// Everything else maps structurally, so excess-property checks still catch misspelt keys.
export type Json<T> = T extends string
  ? `${T}`
  : T extends number | boolean | null | undefined
    ? T
    : T extends ReadonlyArray<infer U>
      ? Array<Json<U>>
      : T extends object
        ? { [K in keyof T]: Json<T[K]> }
        : T;

// The dashboard as a whole.
export type DashboardJson = Json<Dashboard>;

// A Prometheus query target. @grafana/schema 13 no longer ships the Prometheus data source's
// query type (it lives in the @grafana/prometheus plugin package), so the common DataQuery is
// Grafana's and the Prometheus fields below are the project's declaration of the ones it uses.
export type PromTarget = Json<DataQuery> & {
  expr: string;
  legendFormat?: string;
  instant?: boolean;
  range?: boolean;
  format?: 'time_series' | 'table' | 'heatmap';
  interval?: string;
  editorMode?: 'code' | 'builder';
};

// A panel whose options and custom field config are checked against the panel plugin's own
// published types (Panel.options is Record<string, unknown> in the dashboard type itself).
export type PanelOf<Options, Custom> = Json<Omit<Panel, 'options' | 'fieldConfig' | 'targets'>> & {
  options?: Json<Options>;
  fieldConfig?: Json<Omit<FieldConfigSource, 'defaults'>> & {
    defaults: Json<Omit<FieldConfig, 'custom'>> & { custom?: Json<Custom> };
  };
  targets?: PromTarget[];
};

export interface PanelTypes {
  bargauge: PanelOf<BarGauge.Options, Record<string, never>>;
  stat: PanelOf<Stat.Options, Record<string, never>>;
  'state-timeline': PanelOf<StateTimeline.Options, StateTimeline.FieldConfig>;
  table: PanelOf<Table.Options, Table.FieldConfig>;
  text: PanelOf<Text.Options, Record<string, never>>;
  timeseries: PanelOf<TimeSeries.Options, TimeSeries.FieldConfig>;
  row: Json<RowPanel>;
}
