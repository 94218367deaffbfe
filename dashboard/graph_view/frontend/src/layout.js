// Layout of the visible graph, in units packed into rows.
//
// A unit is a box (a node, a folded group) or an open group. An open group that fits the view's width is laid out
// by ELK's layered algorithm (elkjs): left to right in dataflow order, its open sub-groups as compound nodes laid
// out with their contents (hierarchyHandling INCLUDE_CHILDREN), edges routed orthogonally with the shape labels
// placed between layers. An open group wider than that (a stage of 36 blocks, a dense block of 24 layers) is a
// section: its children are units packed into rows inside it. The top level is a section too, so a deep net reads
// like lines of text at a zoom where the labels are readable. Edges between units are routed through the gaps
// between rows (and along the left margin when they skip rows). ELK results are cached per unit: folding a block
// re-lays out only the unit that changed.

export const SIZES = {
  opHeight: 42,
  foldedHeight: 50,
  minOpWidth: 96,
  minFoldedWidth: 128,
  header: 30,
  pad: 10,
  labelHeight: 14,
  unitGap: 44, // between units in a row
  rowGap: 40, // between rows, plus a lane per edge routed through the gap
  lane: 7,
  margin: 16,
};

let measureCtx = null;
export function textWidth(text, font = "12px sans-serif") {
  if (typeof document !== "undefined") {
    if (!measureCtx) measureCtx = document.createElement("canvas").getContext("2d");
    measureCtx.font = font;
    return measureCtx.measureText(text).width;
  }
  return String(text).length * 7.2;
}

export function si(value, unit = "") {
  const v = Math.abs(value);
  for (const [k, s] of [[1e12, "T"], [1e9, "G"], [1e6, "M"], [1e3, "k"]]) {
    if (v >= k) return `${(value / k).toFixed(v / k >= 100 ? 0 : 1)}${s}${unit}`;
  }
  return `${value}${unit}`;
}

export function foldedCaption(g) {
  return `${g.nodes} node${g.nodes === 1 ? "" : "s"} · ${si(g.params)} params`;
}

export function boxSize(box) {
  const d = box.data;
  if (box.type === "op") {
    const w = Math.max(textWidth(d.label, "600 12px sans-serif"), textWidth(d.op, "11px sans-serif"));
    return { width: Math.max(SIZES.minOpWidth, Math.ceil(w) + 28), height: SIZES.opHeight };
  }
  const w = Math.max(textWidth(d.label, "600 13px sans-serif") + 22, textWidth(foldedCaption(d), "11px sans-serif"));
  return { width: Math.max(SIZES.minFoldedWidth, Math.ceil(w) + 28), height: SIZES.foldedHeight };
}

const ELK_OPTIONS = {
  "elk.algorithm": "layered",
  "elk.direction": "RIGHT",
  "elk.hierarchyHandling": "INCLUDE_CHILDREN",
  "elk.edgeRouting": "ORTHOGONAL",
  "elk.json.edgeCoords": "ROOT",
  "elk.edgeLabels.placement": "CENTER",
  "elk.layered.spacing.nodeNodeBetweenLayers": "34",
  "elk.spacing.nodeNode": "16",
  "elk.spacing.edgeNode": "12",
  "elk.spacing.edgeEdge": "8",
  "elk.spacing.edgeLabel": "2",
  "elk.layered.spacing.edgeNodeBetweenLayers": "12",
  "elk.layered.nodePlacement.strategy": "NETWORK_SIMPLEX",
  "elk.layered.considerModelOrder.strategy": "NODES_AND_EDGES",
  "elk.padding": `[top=${SIZES.header},left=${SIZES.pad},bottom=${SIZES.pad},right=${SIZES.pad}]`,
};
const GROUP_OPTIONS = { "elk.padding": ELK_OPTIONS["elk.padding"] };

function labelOf(e) {
  return e.label ? [{ text: e.label, width: Math.ceil(textWidth(e.label, "10px sans-serif")) + 4,
    height: SIZES.labelHeight }] : undefined;
}

// The structure of the visible graph: children of every open box, the chain of open boxes above every box.
function structure(vis) {
  const byId = new Map(vis.boxes.map((b) => [b.id, b]));
  const children = new Map([[null, []]]);
  for (const b of vis.boxes) children.set(b.id, []);
  for (const b of vis.boxes) {
    const p = b.parent && byId.has(b.parent) ? b.parent : null;
    children.get(p).push(b);
  }
  for (const list of children.values()) list.sort((a, b) => a.order - b.order);
  const chain = new Map(); // box id -> [outermost ancestor, ..., parent]
  const up = (id) => {
    if (chain.has(id)) return chain.get(id);
    const b = byId.get(id);
    const p = b.parent && byId.has(b.parent) ? b.parent : null;
    const c = p ? [...up(p), p] : [];
    chain.set(id, c);
    return c;
  };
  for (const b of vis.boxes) up(b.id);
  return { byId, children, chain };
}

// The child of `container` (null: the top) that holds box `id`, or null if it is not inside.
function unitIn(st, container, id) {
  const c = st.chain.get(id);
  if (!c) return null;
  if (container === null) return c.length ? c[0] : id;
  const i = c.indexOf(container);
  if (i < 0) return null;
  return i + 1 < c.length ? c[i + 1] : id;
}

function leafWidth(st, box) {
  if (box.type !== "open") return boxSize(box).width + 34;
  return st.children.get(box.id).reduce((s, c) => s + leafWidth(st, c), 0) + 2 * SIZES.pad;
}

// ELK graph of one open unit laid out whole (the unit is the root of its own layout).
function elkGraphOf(st, unit, vis) {
  const root = { id: unit.id, layoutOptions: ELK_OPTIONS, children: [], edges: [] };
  const build = (box) => {
    const el = { id: box.id };
    const kids = st.children.get(box.id) || [];
    if (box.type === "open" && kids.length) {
      el.layoutOptions = GROUP_OPTIONS;
      el.children = kids.map(build);
    } else {
      Object.assign(el, box.type === "open" ? boxSize({ ...box, type: "folded" }) : boxSize(box));
    }
    return el;
  };
  root.children = st.children.get(unit.id).map(build);
  for (const e of vis.edges) {
    if (!e.layout || unitIn(st, unit.id, e.source) === null || unitIn(st, unit.id, e.target) === null) continue;
    root.edges.push({ id: e.id, sources: [e.source], targets: [e.target], labels: labelOf(e) });
  }
  return root;
}

function collect(laid, ox, oy, positions, routes) {
  for (const c of laid.children || []) {
    positions.set(c.id, { x: ox + c.x, y: oy + c.y, width: c.width, height: c.height });
    collect(c, ox + c.x, oy + c.y, positions, routes);
  }
  for (const e of laid.edges || []) {
    const points = [];
    for (const s of e.sections || []) points.push(s.startPoint, ...(s.bendPoints || []), s.endPoint);
    const l = e.labels && e.labels[0];
    routes.set(e.id, { points: points.map((p) => ({ x: p.x + ox, y: p.y + oy })),
      label: l && l.x !== undefined ? { x: l.x + ox, y: l.y + oy } : null });
  }
}

// A laid-out piece: sizes, and positions / routes relative to its own top-left corner.
function shift(piece, dx, dy, positions, routes) {
  for (const [id, p] of piece.positions) positions.set(id, { ...p, x: p.x + dx, y: p.y + dy });
  for (const [id, r] of piece.routes) {
    routes.set(id, { points: r.points.map((p) => ({ x: p.x + dx, y: p.y + dy })),
      label: r.label ? { x: r.label.x + dx, y: r.label.y + dy } : null });
  }
}

async function layUnit(st, unit, vis, ctx) {
  if (unit.type !== "open" || !(st.children.get(unit.id) || []).length) {
    const size = unit.type === "open" ? boxSize({ ...unit, type: "folded" }) : boxSize(unit);
    return { ...size, positions: new Map(), routes: new Map() };
  }
  // Rows of sub-groups (blocks of a stage, layers of a dense block) when the group is wider than the view; a group
  // of plain nodes stays with ELK, which lays parallel branches (a shortcut beside its residual branch) side by side.
  const kids = st.children.get(unit.id);
  const width = leafWidth(st, unit);
  const groupsInside = kids.length > 1 && kids.some((k) => k.type !== "op");
  const asRows = async () => {
    const inner = await section(st, unit.id, vis, ctx);
    const positions = new Map();
    const routes = new Map();
    shift(inner, SIZES.pad, SIZES.header, positions, routes);
    return { width: inner.width + 2 * SIZES.pad, height: inner.height + SIZES.header + SIZES.pad, positions, routes };
  };
  if (kids.length > 1 && ((width > ctx.rowWidth * 1.15 && groupsInside) || width > ctx.rowWidth * 3)) {
    return asRows();
  }
  const graph = elkGraphOf(st, unit, vis);
  const key = JSON.stringify(graph, (k, v) => (k === "layoutOptions" ? undefined : v));
  let laid = ctx.cache.get(key);
  if (!laid) {
    laid = await ctx.elk.layout(graph);
    ctx.cache.set(key, laid);
    if (ctx.cache.size > 600) ctx.cache.delete(ctx.cache.keys().next().value);
  }
  // The estimate leaves out the shape labels between layers: a group of sub-groups that came out wider than the
  // view after all (U-Net's decoder) is packed into rows too.
  if (groupsInside && laid.width > ctx.rowWidth * 1.15) return asRows();
  const positions = new Map();
  const routes = new Map();
  collect(laid, 0, 0, positions, routes);
  return { width: laid.width, height: laid.height, positions, routes };
}

// Whether a box sits at the given side of the piece it is in, so an edge can leave (or enter) it straight across
// the gap between two pieces without crossing the piece.
function facing(piece, id, side) {
  const p = piece.positions.get(id);
  if (!p) return true; // the piece is the box itself
  const reach = SIZES.pad + 26;
  return side === "right" ? p.x + p.width >= piece.width - reach : p.x <= reach;
}

// Packs the children of `container` (null: the top) into rows and routes the edges between them.
async function section(st, container, vis, ctx) {
  const units = st.children.get(container);
  const pieces = await Promise.all(units.map((u) => layUnit(st, u, vis, ctx)));
  const rowWidth = Math.max(ctx.rowWidth, ...pieces.map((p) => p.width));
  // Room between units for the shape label of the edge that joins them.
  let unitGap = SIZES.unitGap;
  for (const e of vis.edges) {
    const su = e.layout && e.label ? unitIn(st, container, e.source) : null;
    const tu = su !== null ? unitIn(st, container, e.target) : null;
    if (tu !== null && su !== tu) unitGap = Math.max(unitGap, textWidth(e.label, "10px sans-serif") + 24);
  }
  const rows = [];
  let row = null;
  units.forEach((u, i) => {
    const p = pieces[i];
    if (!row || (row.width + unitGap + p.width > rowWidth && row.units.length)) {
      row = { units: [], width: -unitGap, height: 0 };
      rows.push(row);
    }
    row.units.push(i);
    row.width += unitGap + p.width;
    row.height = Math.max(row.height, p.height);
  });
  const where = new Map(); // unit index -> {row, slot}
  rows.forEach((r, ri) => r.units.forEach((ui, slot) => where.set(ui, { row: ri, slot })));
  const index = new Map(units.map((u, i) => [u.id, i]));

  // Edges between two different units of this section, with their lanes in the gaps.
  const gapLanes = new Array(rows.length + 1).fill(0);
  let marginLanes = 0;
  const plans = [];
  for (const e of vis.edges) {
    if (!e.layout) continue;
    const su = unitIn(st, container, e.source);
    const tu = unitIn(st, container, e.target);
    if (su === null || tu === null || su === tu) continue;
    const a = where.get(index.get(su));
    const b = where.get(index.get(tu));
    if (a.row === b.row && b.slot === a.slot + 1 && facing(pieces[index.get(su)], e.source, "right") &&
        facing(pieces[index.get(tu)], e.target, "left")) plans.push({ e, kind: "adjacent" });
    else if (b.row === a.row + 1 || a.row === b.row) plans.push({ e, kind: "gap", gap: a.row + 1, lane: gapLanes[a.row + 1]++ });
    else {
      plans.push({ e, kind: "margin", g1: a.row + 1, g2: b.row, lane1: gapLanes[a.row + 1]++, lane2: gapLanes[b.row]++,
        m: marginLanes++ });
    }
  }
  const gapHeight = (i) => SIZES.rowGap + Math.max(0, gapLanes[i] - 1) * SIZES.lane;
  const x0 = marginLanes ? SIZES.margin + marginLanes * SIZES.lane : 0;
  let y = gapLanes[0] ? gapHeight(0) : 0;
  const rowTop = [];
  rows.forEach((r, i) => {
    if (i > 0) y += gapHeight(i);
    rowTop.push(y);
    y += r.height;
  });
  const gapMid = (i, lane) => {
    const top = i === 0 ? 0 : rowTop[i - 1] + rows[i - 1].height;
    return top + SIZES.rowGap / 2 + lane * SIZES.lane;
  };

  const positions = new Map();
  const routes = new Map();
  rows.forEach((r, ri) => {
    let x = x0;
    for (const ui of r.units) {
      const p = pieces[ui];
      positions.set(units[ui].id, { x, y: rowTop[ri], width: p.width, height: p.height });
      shift(p, x, rowTop[ri], positions, routes);
      x += p.width + unitGap;
    }
  });
  const port = (id, side) => {
    const p = positions.get(id);
    return { x: side === "out" ? p.x + p.width : p.x, y: p.y + Math.min(p.height / 2, SIZES.header - 9) };
  };
  for (const plan of plans) {
    const s = port(plan.e.source, "out");
    const t = port(plan.e.target, "in");
    let points;
    let label = null;
    if (plan.kind === "adjacent") {
      const xm = Math.max(s.x + 8, t.x - 14);
      points = [s, { x: xm, y: s.y }, { x: xm, y: t.y }, t];
      const w = textWidth(plan.e.label || "", "10px sans-serif");
      label = { x: s.x + (t.x - s.x - w) / 2 - 2, y: Math.min(s.y, t.y) - SIZES.labelHeight - 1 };
    } else if (plan.kind === "gap") {
      const gy = gapMid(plan.gap, plan.lane);
      const sx = s.x + 8 + (plan.lane % 4) * 3;
      const tx = t.x - 10 - (plan.lane % 4) * 3;
      points = [s, { x: sx, y: s.y }, { x: sx, y: gy }, { x: tx, y: gy }, { x: tx, y: t.y }, t];
      label = plan.lane === 0 ? { x: (sx + tx) / 2 - 24, y: gy - SIZES.labelHeight } : null;
    } else {
      const gy1 = gapMid(plan.g1, plan.lane1);
      const gy2 = gapMid(plan.g2, plan.lane2);
      const mx = x0 - SIZES.margin - plan.m * SIZES.lane;
      const sx = s.x + 8;
      const tx = t.x - 10;
      points = [s, { x: sx, y: s.y }, { x: sx, y: gy1 }, { x: mx, y: gy1 }, { x: mx, y: gy2 }, { x: tx, y: gy2 },
        { x: tx, y: t.y }, t];
      // Labelled where the skip comes back from the margin, above the row it arrives in.
      label = { x: mx + 6, y: gy2 - SIZES.labelHeight };
    }
    routes.set(plan.e.id, { points, label: plan.e.label ? label : null });
  }
  const width = x0 + Math.max(...rows.map((r) => r.width));
  const height = y + (gapLanes[rows.length] ? gapHeight(rows.length) : 0);
  return { width, height, positions, routes };
}

// Lays out the visible graph: absolute positions of every box and the route of every laid-out edge.
export async function layoutGraph(vis, elk, cache, viewWidth) {
  const st = structure(vis);
  const ctx = { elk, cache, rowWidth: Math.max(900, viewWidth / 0.72) };
  const top = await section(st, null, vis, ctx);
  const positions = new Map();
  const routes = new Map();
  shift(top, SIZES.margin, SIZES.margin, positions, routes);
  return { positions, routes, width: top.width + 2 * SIZES.margin, height: top.height + 2 * SIZES.margin };
}

// An error edge: an S-curve from the right of one box into the left of the other, bulging sideways so it stays
// visible when the two boxes sit one above the other; labelled beside where it leaves.
export function errorPath(positions, source, target) {
  const a = positions.get(source);
  const b = positions.get(target);
  if (!a || !b) return null;
  const s = { x: a.x + a.width, y: a.y + Math.min(a.height / 2, SIZES.header - 9) };
  const t = { x: b.x, y: b.y + Math.min(b.height / 2, SIZES.header - 9) };
  const bulge = Math.max(60, Math.abs(t.y - s.y) * 0.35);
  return { d: `M ${s.x} ${s.y} C ${s.x + bulge} ${s.y}, ${t.x - bulge} ${t.y}, ${t.x} ${t.y}`,
    mid: { x: s.x + 8, y: s.y - 6 } };
}

// An overlay arc (dense provenance) from the top of one box to the top of another.
export function arcPath(positions, source, target, bend = 1) {
  const a = positions.get(source);
  const b = positions.get(target);
  if (!a || !b) return null;
  const s = { x: a.x + a.width / 2, y: a.y };
  const t = { x: b.x + b.width / 2, y: b.y };
  const dist = Math.hypot(t.x - s.x, t.y - s.y);
  const lift = Math.min(24 + dist * 0.18, 160) * bend;
  const c1 = { x: s.x + (t.x - s.x) * 0.25, y: Math.min(s.y, t.y) - lift };
  const c2 = { x: s.x + (t.x - s.x) * 0.75, y: Math.min(s.y, t.y) - lift };
  const mid = { x: (s.x + 3 * c1.x + 3 * c2.x + t.x) / 8, y: (s.y + 3 * c1.y + 3 * c2.y + t.y) / 8 };
  return { d: `M ${s.x} ${s.y} C ${c1.x} ${c1.y}, ${c2.x} ${c2.y}, ${t.x} ${t.y}`, mid };
}

// The route without its ends' first `cut` px, so an edge never lies over the handles it joins (Chromium sends
// a press on a handle to an edge's hit area drawn over it, which would block drawing a new edge).
export function trimEnds(points, cut = 7) {
  if (points.length < 2) return points;
  const out = points.map((p) => ({ ...p }));
  const pull = (a, b) => {
    const d = Math.hypot(b.x - a.x, b.y - a.y);
    if (d <= cut * 1.5) return;
    a.x += ((b.x - a.x) / d) * cut;
    a.y += ((b.y - a.y) / d) * cut;
  };
  pull(out[0], out[1]);
  pull(out[out.length - 1], out[out.length - 2]);
  return out;
}

export function polylinePath(points) {
  if (!points.length) return "";
  return points.map((p, i) => `${i ? "L" : "M"} ${p.x} ${p.y}`).join(" ");
}
