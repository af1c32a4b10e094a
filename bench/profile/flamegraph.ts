/**
 * A V8 `.cpuprofile` (what `node --cpu-prof` writes) turned into folded stacks (one line per
 * distinct stack: `frame;frame;frame <µs>`, the format flame graph tools read) and into a
 * self-contained SVG flame graph (hover a frame for its name, time and share). No dependencies:
 * the bench's profiles are small, and the SVG must open in a browser straight from the repository.
 */

export interface CpuProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber?: number };
  children?: number[];
}

export interface CpuProfile {
  nodes: CpuProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

/**
 * The name a frame gets: `function where:line`, `(anonymous)` when unnamed. `where` is
 * `dist/<file>` for weixin-kit's built code, `<package>/<file>` for a dependency, the `node:`
 * module for Node's own code; natives (`(garbage collector)`, `(program)`) have none.
 */
export function frameName(node: CpuProfileNode): string {
  const { functionName, url, lineNumber } = node.callFrame;
  const name = functionName === '' ? '(anonymous)' : functionName;
  if (url === '') return name;
  return `${name} ${whereOf(url)}:${lineNumber + 1}`;
}

function whereOf(url: string): string {
  if (url.startsWith('node:')) return url;
  const file = url.slice(url.lastIndexOf('/') + 1);
  const modules = url.lastIndexOf('/node_modules/');
  if (modules !== -1) {
    const rest = url.slice(modules + '/node_modules/'.length).split('/');
    const pkg = rest[0]?.startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0];
    return `${pkg}/${file}`;
  }
  if (url.includes('/dist/')) return `dist/${file}`;
  return file;
}

/**
 * Folded stacks: µs of self time per distinct stack from the root's children down (the root is
 * left out). Samples of `(idle)` are dropped unless `keepIdle`. Frames are `;`-joined, so a `;`
 * inside a name becomes `,`.
 */
export function foldProfile(profile: CpuProfile, options: { keepIdle?: boolean } = {}): Map<string, number> {
  const byId = new Map<number, CpuProfileNode>();
  const parent = new Map<number, number>();
  for (const node of profile.nodes) {
    byId.set(node.id, node);
    for (const child of node.children ?? []) parent.set(child, node.id);
  }
  const self = new Map<number, number>();
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i] as number;
    self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
  }
  const folded = new Map<string, number>();
  for (const [id, time] of self) {
    if (time <= 0) continue;
    const frames: string[] = [];
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      if (parent.get(at) === undefined) break; // the (root) node itself
      const node = byId.get(at);
      if (node !== undefined) frames.push(frameName(node).replaceAll(';', ','));
    }
    if (frames.length === 0) continue;
    if (!options.keepIdle && frames.length === 1 && frames[0] === '(idle)') continue;
    const stack = frames.reverse().join(';');
    folded.set(stack, (folded.get(stack) ?? 0) + time);
  }
  return folded;
}

/** Folded stacks as text, heaviest first. */
export function foldedText(folded: Map<string, number>): string {
  return [...folded]
    .sort((a, b) => b[1] - a[1])
    .map(([stack, us]) => `${stack} ${Math.round(us)}`)
    .join('\n');
}

/** Self and total (inclusive) time per frame name, largest self first. */
export function frameTimes(folded: Map<string, number>): { name: string; self: number; total: number }[] {
  const self = new Map<string, number>();
  const total = new Map<string, number>();
  for (const [stack, us] of folded) {
    const frames = stack.split(';');
    const leaf = frames[frames.length - 1] as string;
    self.set(leaf, (self.get(leaf) ?? 0) + us);
    // A recursive frame counts once per stack in its total.
    for (const name of new Set(frames)) total.set(name, (total.get(name) ?? 0) + us);
  }
  return [...total.keys()]
    .map((name) => ({ name, self: self.get(name) ?? 0, total: total.get(name) ?? 0 }))
    .sort((a, b) => b.self - a.self || b.total - a.total);
}

interface Tree {
  name: string;
  value: number;
  children: Map<string, Tree>;
}

function treeOf(folded: Map<string, number>): Tree {
  const root: Tree = { name: 'all', value: 0, children: new Map() };
  for (const [stack, us] of folded) {
    root.value += us;
    let at = root;
    for (const name of stack.split(';')) {
      let child = at.children.get(name);
      if (child === undefined) {
        child = { name, value: 0, children: new Map() };
        at.children.set(name, child);
      }
      child.value += us;
      at = child;
    }
  }
  return root;
}

const escapeXml = (text: string): string =>
  text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;').replaceAll('"', '&quot;');

/** weixin-kit's own code orange, Node's blue, dependencies green, natives and V8 grey. */
function colour(name: string): string {
  if (!/:\d+$/.test(name)) return '#b4b4b4';
  if (name.includes(' dist/')) return '#e8833a';
  if (name.includes(' node:')) return '#6aa5d8';
  return '#7cbf7c';
}

/** An SVG flame graph (root at the bottom); frames narrower than `minWidth` px are left out. */
export function flameGraphSvg(
  folded: Map<string, number>,
  options: { title: string; subtitle?: string; width?: number; minWidth?: number },
): string {
  const width = options.width ?? 1200;
  const minWidth = options.minWidth ?? 0.3;
  const rowHeight = 17;
  const pad = 10;
  const root = treeOf(folded);
  const scale = root.value > 0 ? (width - 2 * pad) / root.value : 0;
  const rects: string[] = [];
  let depthMax = 0;
  const walk = (node: Tree, x: number, depth: number): void => {
    const w = node.value * scale;
    if (w < minWidth) return;
    depthMax = Math.max(depthMax, depth);
    const share = root.value > 0 ? (node.value / root.value) * 100 : 0;
    const label = `${node.name} (${(node.value / 1000).toFixed(1)} ms, ${share.toFixed(2)}%)`;
    // Placed from the bottom once the depth is known: y is rewritten below.
    rects.push(
      `<g><title>${escapeXml(label)}</title><rect x="${x.toFixed(2)}" y="{Y${depth}}" width="${w.toFixed(2)}" height="${rowHeight - 1}" fill="${colour(node.name)}" rx="2"/>` +
        (w > 40
          ? `<text x="${(x + 3).toFixed(2)}" y="{T${depth}}">${escapeXml(clip(node.name, w))}</text>`
          : '') +
        '</g>',
    );
    let childX = x;
    for (const child of [...node.children.values()].sort((a, b) => a.name.localeCompare(b.name))) {
      walk(child, childX, depth + 1);
      childX += child.value * scale;
    }
  };
  walk(root, pad, 0);
  const top = 50;
  const height = top + (depthMax + 1) * rowHeight + pad;
  const yOf = (depth: number) => top + (depthMax - depth) * rowHeight;
  const body = rects
    .join('\n')
    .replace(/\{Y(\d+)\}/g, (_m, d: string) => String(yOf(Number(d))))
    .replace(/\{T(\d+)\}/g, (_m, d: string) => String(yOf(Number(d)) + 12));
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="monospace" font-size="11">`,
    `<title>${escapeXml(options.title)}</title>`,
    `<rect width="100%" height="100%" fill="#fdfdfd"/>`,
    `<text x="${pad}" y="20" font-size="15">${escapeXml(options.title)}</text>`,
    options.subtitle === undefined
      ? ''
      : `<text x="${pad}" y="38" fill="#555">${escapeXml(options.subtitle)}</text>`,
    body,
    '</svg>',
    '',
  ].join('\n');
}

/** The name cut to what fits `width` px at ~6.6 px per character. */
function clip(name: string, width: number): string {
  const chars = Math.floor((width - 6) / 6.6);
  return name.length <= chars ? name : `${name.slice(0, Math.max(0, chars - 1))}…`;
}
