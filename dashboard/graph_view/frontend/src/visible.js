// The visible graph: which boxes show for a set of folded groups, and the edges between them.
// A node inside a folded group is drawn as that group's box (its outermost folded ancestor); edges between the
// same two boxes are merged into one, counting how many IR edges it stands for.

export function indexModel(model) {
  const groups = new Map(model.groups.map((g) => [g.id, g]));
  const nodes = new Map(model.nodes.map((n) => [n.id, n]));
  return { groups, nodes };
}

// The chain of group ids from the outermost to the element's parent.
function ancestors(index, id) {
  const chain = [];
  let el = index.nodes.get(id) || index.groups.get(id);
  let parent = el ? el.parent : null;
  while (parent) {
    chain.unshift(parent);
    const g = index.groups.get(parent);
    parent = g ? g.parent : null;
  }
  return chain;
}

export function isFolded(group, overrides) {
  return Object.prototype.hasOwnProperty.call(overrides, group.id) ? overrides[group.id] : group.collapsed;
}

// The box an element is drawn as: itself, or its outermost folded ancestor.
export function representative(index, overrides, id) {
  for (const gid of ancestors(index, id)) {
    const g = index.groups.get(gid);
    if (g && isFolded(g, overrides)) return gid;
  }
  return id;
}

const KIND_RANK = { error: 3, skip: 2, dense: 1, flow: 0 };

export function visibleGraph(model, overrides) {
  const index = indexModel(model);
  const boxes = []; // {id, type: "op" | "folded" | "open", parent, data, order}
  const shown = new Set();
  // Dataflow order of every element: the index of its first node (model nodes are in topological order).
  const order = new Map();
  model.nodes.forEach((n, i) => {
    order.set(n.id, i);
    for (const gid of ancestors(index, n.id)) if (!order.has(gid)) order.set(gid, i);
  });
  for (const g of model.groups) {
    const rep = representative(index, overrides, g.id);
    if (rep !== g.id) continue; // inside a folded ancestor
    const folded = isFolded(g, overrides);
    boxes.push({ id: g.id, type: folded ? "folded" : "open", parent: g.parent, data: g, order: order.get(g.id) ?? 0 });
    shown.add(g.id);
  }
  for (const n of model.nodes) {
    if (representative(index, overrides, n.id) !== n.id) continue;
    boxes.push({ id: n.id, type: "op", parent: n.parent, data: n, order: order.get(n.id) });
    shown.add(n.id);
  }
  const merged = new Map();
  for (const e of model.edges) {
    const s = representative(index, overrides, e.source);
    const t = representative(index, overrides, e.target);
    if (s === t || !shown.has(s) || !shown.has(t)) continue;
    // Overlays (dense provenance, an error) stay apart from routed edges: they are drawn as arcs.
    const key = `${s}→${t}${e.layout ? "" : "~"}`;
    const prev = merged.get(key);
    if (!prev) {
      merged.set(key, { id: key, source: s, target: t, kind: e.kind, label: e.label, layout: e.layout,
        count: 1, members: [e] });
    } else {
      prev.count += 1;
      prev.members.push(e);
      // A main-path edge between two boxes is drawn as one, whatever skips run beside it inside them.
      if (prev.kind !== "flow" && (e.kind === "flow" || KIND_RANK[e.kind] > KIND_RANK[prev.kind])) prev.kind = e.kind;
      if (prev.label !== e.label) prev.label = prev.count > 1 ? "" : e.label;
    }
  }
  const edges = [...merged.values()].map((e) => {
    // A box-to-box edge standing for one IR edge acts on it (remove the skip, change its merge).
    const single = e.members.length === 1 ? e.members[0] : null;
    const skipMembers = e.members.filter((m) => m.kind === "skip" && m.merge);
    const merges = [...new Set(skipMembers.map((m) => m.merge))];
    return { ...e, ir: single, merges, edit: single ? single.edit : null, members: undefined };
  });
  return { boxes, edges, index };
}

// A signature of what is drawn, so unchanged re-renders skip the layout.
export function signature(vis) {
  const parts = vis.boxes.map((b) => `${b.id}|${b.type}|${b.parent || ""}|${b.data.label}|${b.data.op || ""}`);
  for (const e of vis.edges) parts.push(`${e.source}>${e.target}|${e.kind}|${e.label}|${e.count}`);
  return parts.join("\n");
}
