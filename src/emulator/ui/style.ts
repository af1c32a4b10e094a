/** The console's stylesheet, served at `/_emulator/ui/app.css` (system fonts only, nothing fetched). */
export const CONSOLE_CSS = `
:root {
  --bg: #f4f5f7; --card: #fff; --ink: #1f2329; --muted: #6b7280; --line: #e5e7eb;
  --accent: #07c160; --accent-ink: #05803f; --bad: #d93025; --bad-bg: #fdecea; --ok-bg: #e7f8ef;
  --warn: #b45309; --warn-bg: #fef3c7; --info: #1d4ed8; --info-bg: #e0e7ff;
  --mono: ui-monospace, SFMono-Regular, Menlo, Consolas, "Liberation Mono", monospace;
}
* { box-sizing: border-box; }
html, body { margin: 0; padding: 0; }
body { background: var(--bg); color: var(--ink); font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto,
  "PingFang SC", "Noto Sans CJK SC", "Microsoft YaHei", sans-serif; }
header.top { display: flex; align-items: center; gap: 16px; padding: 12px 20px; background: #1f2329; color: #fff; }
header.top h1 { font-size: 17px; margin: 0; font-weight: 600; letter-spacing: .2px; }
header.top h1 .sub { color: #9ca3af; font-weight: 400; margin-left: 6px; }
header.top .spacer { flex: 1; }
.logo { display: inline-block; width: 22px; height: 22px; border-radius: 6px; background: var(--accent); vertical-align: -5px; margin-right: 8px; }
.pill { display: inline-flex; align-items: center; gap: 6px; padding: 2px 10px; border-radius: 999px; font-size: 12px; background: #374151; color: #e5e7eb; }
.pill::before { content: ""; width: 8px; height: 8px; border-radius: 50%; background: #9ca3af; }
.pill.live::before { background: var(--accent); }
.pill.down::before { background: var(--bad); }
.clock-top { font-family: var(--mono); font-size: 13px; color: #e5e7eb; }
.clock-top .muted { color: #9ca3af; }
main.grid { display: grid; grid-template-columns: minmax(0, 3fr) minmax(330px, 2fr); gap: 16px; padding: 16px 20px 32px; align-items: start; }
.col { display: flex; flex-direction: column; gap: 16px; min-width: 0; }
section.card { background: var(--card); border: 1px solid var(--line); border-radius: 10px; padding: 14px 16px; min-width: 0; }
section.card h2 { font-size: 14px; margin: 0 0 10px; display: flex; align-items: center; gap: 8px; }
section.card h2 .count { color: var(--muted); font-weight: 400; font-size: 12px; }
.muted { color: var(--muted); }
.small { font-size: 12px; }
table { width: 100%; border-collapse: collapse; }
th, td { text-align: left; padding: 6px 8px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { font-size: 12px; font-weight: 600; color: var(--muted); background: #fafafa; }
td.mono, .mono { font-family: var(--mono); font-size: 12px; }
.scroll { max-height: 460px; overflow: auto; border: 1px solid var(--line); border-radius: 8px; }
.scroll table th { position: sticky; top: 0; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 999px; font-size: 11px; font-weight: 600; white-space: nowrap; }
.badge.accepted, .badge.SUCCESS { background: var(--ok-bg); color: var(--accent-ink); }
.badge.refused, .badge.CLOSED { background: var(--bad-bg); color: var(--bad); }
.badge.NOTPAY { background: var(--warn-bg); color: var(--warn); }
.badge.REFUND { background: var(--info-bg); color: var(--info); }
.kind { display: inline-block; font-size: 11px; color: var(--muted); border: 1px solid var(--line); border-radius: 4px; padding: 0 5px; white-space: nowrap; }
tr.event { cursor: pointer; }
tr.event:hover td { background: #fafafa; }
tr.event.refused td.summary { color: var(--bad); }
td.reason { color: var(--muted); font-size: 12px; word-break: break-word; }
tr.detail td { background: #fbfbfc; }
pre { margin: 0; font-family: var(--mono); font-size: 12px; white-space: pre-wrap; word-break: break-all; }
form { display: grid; gap: 8px; }
.row { display: flex; gap: 8px; align-items: center; flex-wrap: wrap; }
.row > label { flex: 1; min-width: 110px; }
.row.spaced { margin-top: 10px; align-items: flex-end; }
label { display: flex; flex-direction: column; gap: 3px; font-size: 12px; color: var(--muted); }
label.check { flex-direction: row; align-items: center; gap: 6px; color: var(--ink); }
input, select, textarea { font: inherit; font-size: 13px; padding: 6px 8px; border: 1px solid #d1d5db; border-radius: 6px; background: #fff; color: var(--ink); min-width: 0; }
input:focus, select:focus, textarea:focus { outline: 2px solid rgba(7, 193, 96, .35); border-color: var(--accent); }
button { font: inherit; font-size: 13px; padding: 6px 12px; border-radius: 6px; border: 1px solid #d1d5db; background: #fff; color: var(--ink); cursor: pointer; }
button:hover:not(:disabled) { border-color: #9ca3af; }
button:disabled { opacity: .45; cursor: not-allowed; }
button.primary { background: var(--accent); border-color: var(--accent); color: #fff; font-weight: 600; }
button.primary:hover:not(:disabled) { background: var(--accent-ink); }
button.danger { color: var(--bad); }
button.tiny { padding: 2px 8px; font-size: 12px; }
.actions { display: flex; gap: 4px; flex-wrap: wrap; }
.result { margin-top: 10px; padding: 8px 10px; border-radius: 8px; border: 1px solid var(--line); background: #fafafa; }
.result.accepted { border-color: #bbf0d2; background: var(--ok-bg); }
.result.refused { border-color: #f7c4bf; background: var(--bad-bg); }
.toast { position: fixed; right: 16px; bottom: 16px; max-width: 420px; padding: 10px 14px; border-radius: 8px; background: #1f2329; color: #fff; font-size: 13px; box-shadow: 0 6px 20px rgba(0,0,0,.2); }
.toast.error { background: var(--bad); }
.hidden { display: none !important; }
.empty { color: var(--muted); font-size: 13px; padding: 10px 2px; }
dl.kv { display: grid; grid-template-columns: max-content 1fr; gap: 2px 10px; margin: 0; font-size: 12px; }
dl.kv dt { color: var(--muted); }
dl.kv dd { margin: 0; font-family: var(--mono); word-break: break-all; }
.app { border-top: 1px solid var(--line); padding: 8px 0; }
.app:first-of-type { border-top: 0; padding-top: 0; }
.app-title { display: flex; gap: 8px; align-items: center; margin-bottom: 4px; font-weight: 600; font-size: 13px; }
@media (max-width: 900px) { main.grid { grid-template-columns: 1fr; } }
`;
