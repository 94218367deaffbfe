// The graph view: React Flow draws the laid-out boxes and edges; the page (Python) owns the spec.
// Every user text (node names, spec names, messages) is rendered as React text: never as HTML.
import React, { useCallback, useEffect, useMemo, useRef, useState } from "react";
import {
  applyNodeChanges, BaseEdge, Handle, MarkerType, MiniMap, Panel, Position, ReactFlow, useNodesInitialized,
  useReactFlow,
} from "@xyflow/react";
import ELK from "elkjs/lib/elk-api.js";
import { visibleGraph, signature } from "./visible.js";
import { layoutGraph, arcPath, errorPath, polylinePath, trimEnds, foldedCaption, si } from "./layout.js";
import { Streamlit } from "./streamlit.js";

const elk = new ELK({ workerUrl: "./elk-worker.min.js" });
const layoutCache = new Map();

const EDGE_COLOURS = { flow: "#9aa3b2", skip: "#e67e22", dense: "#f0a35e", error: "#d62728" };
const MERGES = ["add", "concat", "gate"];
const VIRTUAL_FROM = 300; // boxes: past this, only those in view are rendered
const ADAPTERS = ["none", "projection", "pool"];

function nonce() {
  return `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
}

function send(event) {
  document.documentElement.dataset.sentAt = String(Date.now()); // when the last action left (for bench/)
  Streamlit.setValue({ ...event, nonce: nonce() });
}

function textOn(colour) {
  if (!colour || colour.length !== 7) return "#1f2430";
  const [r, g, b] = [1, 3, 5].map((i) => parseInt(colour.slice(i, i + 2), 16));
  return 0.299 * r + 0.587 * g + 0.114 * b > 150 ? "#1f2430" : "#ffffff";
}

function nameOf(box) {
  return box ? box.data.name : "";
}

// ---- nodes -------------------------------------------------------------------------------------------------

function OpNode({ data }) {
  const n = data.box.data;
  const fill = n.value_colour || "#ffffff";
  const cls = `gv-op${n.error ? " gv-error" : ""}${n.frozen ? " gv-frozen" : ""}`
    + `${data.selected ? " gv-selected" : ""}`;
  return (
    <div className={cls} style={{ borderLeftColor: n.colour, background: n.error ? "#fde8e8" : fill,
      color: n.error ? "#8b1a1a" : textOn(fill) }} title={n.name}>
      <Handle type="target" position={Position.Left} id="in" />
      <div className="gv-label">{n.label}</div>
      <div className="gv-sub">{n.frozen ? `${n.op} · frozen` : n.op}</div>
      <Handle type="source" position={Position.Right} id="out" />
    </div>
  );
}

function FoldedNode({ data }) {
  const g = data.box.data;
  const fill = g.value_colour || "#f4f6fa";
  return (
    <div className={`gv-folded${data.selected ? " gv-selected" : ""}`} style={{ background: fill, color: textOn(fill) }}
      title={g.name} onDoubleClick={(ev) => { ev.stopPropagation(); data.toggle(g.id, false); }}>
      <Handle type="target" position={Position.Left} id="in" />
      <div className="gv-label">
        <button type="button" className="gv-toggle nodrag" aria-label={`expand ${g.name}`} title="Expand"
          onClick={(ev) => { ev.stopPropagation(); data.toggle(g.id, false); }}>+</button>
        {g.label}
      </div>
      <div className="gv-sub">{foldedCaption(g)}</div>
      <Handle type="source" position={Position.Right} id="out" />
    </div>
  );
}

function OpenGroup({ data }) {
  const g = data.box.data;
  return (
    <div className={`gv-open gv-level${g.level}${data.selected ? " gv-selected" : ""}`} title={g.name}>
      <Handle type="target" position={Position.Left} id="in" style={{ top: 16 }} />
      <div className="gv-header">
        <button type="button" className="gv-toggle nodrag" aria-label={`collapse ${g.name}`} title="Collapse"
          onClick={(ev) => { ev.stopPropagation(); data.toggle(g.id, true); }}>−</button>
        <span className="gv-label">{g.label}</span>
        <span className="gv-sub">{foldedCaption(g)}</span>
      </div>
      <Handle type="source" position={Position.Right} id="out" style={{ top: 16 }} />
    </div>
  );
}

const nodeTypes = { op: OpNode, folded: FoldedNode, open: OpenGroup };

// ---- edges -------------------------------------------------------------------------------------------------

function RoutedEdge({ id, data, markerEnd, style }) {
  const d = polylinePath(trimEnds(data.points));
  return (
    <>
      <BaseEdge id={id} path={d} markerEnd={markerEnd} style={style} interactionWidth={14} />
      {data.text && data.labelAt ? (
        <text className="gv-edge-label" x={data.labelAt.x + 2} y={data.labelAt.y + 10}>{data.text}</text>
      ) : null}
    </>
  );
}

function ArcEdge({ id, data, markerEnd, style }) {
  return (
    <>
      <BaseEdge id={id} path={data.d} markerEnd={markerEnd} style={style} interactionWidth={10} />
      {data.kind === "error" && data.text ? (
        <text className="gv-edge-label gv-error-label" x={data.mid.x} y={data.mid.y}>
          {data.text.length > 70 ? `${data.text.slice(0, 69)}…` : data.text}
        </text>
      ) : null}
    </>
  );
}

const edgeTypes = { routed: RoutedEdge, arc: ArcEdge };

// ---- panels ------------------------------------------------------------------------------------------------

function fmtShape(shape) {
  return shape && shape.length ? `[${shape.join(", ")}]` : "?";
}

function Row({ k, v }) {
  return (
    <tr>
      <th>{k}</th>
      <td>{v}</td>
    </tr>
  );
}

function count(n) {
  return `${si(n)} (${Number(n).toLocaleString("en-US")})`;
}

function InfoPanel({ box, legend, onClose }) {
  if (!box) return null;
  const d = box.data;
  const isNode = box.type === "op";
  const stats = Object.entries(d.stats || {});
  return (
    <div className="gv-panel gv-info" data-testid="gv-info">
      <button type="button" className="gv-close" aria-label="close" onClick={onClose}>×</button>
      <div className="gv-info-name">{d.name}</div>
      <table>
        <tbody>
          {isNode ? <Row k="op" v={`${d.op} · ${d.kind}${d.role ? ` · ${d.role}` : ""}`} /> : null}
          {isNode ? <Row k="in" v={(d.in_shapes || []).map(fmtShape).join("  ") || "—"} /> : null}
          {isNode ? <Row k="out" v={fmtShape(d.out_shape)} /> : null}
          {!isNode ? <Row k="nodes" v={String(d.nodes)} /> : null}
          <Row k="params" v={count(d.params)} />
          <Row k="MACs" v={count(d.macs)} />
          <Row k="FLOPs" v={count(d.flops)} />
          {isNode ? <Row k="memory" v={`output ${si(d.out_bytes, "B")} · saved ${si(d.saved_bytes, "B")}`} /> : null}
          {!isNode && d.value !== null && legend ? <Row k={legend.stat} v={Number(d.value).toPrecision(3)} /> : null}
          {stats.map(([k, v]) => <Row key={k} k={k} v={Number(v).toPrecision(3)} />)}
        </tbody>
      </table>
      {isNode ? <div className="gv-note">batch 1, float32{legend ? ` · statistics at step ${legend.step}` : ""}</div>
        : null}
    </div>
  );
}

function Legend({ model }) {
  const kinds = useMemo(() => {
    const seen = new Map();
    for (const n of model.nodes) if (!seen.has(n.kind)) seen.set(n.kind, n.error ? "#2f6fdf" : n.colour);
    return [...seen.entries()].filter(([k]) => k !== "io");
  }, [model]);
  const legend = model.meta.legend;
  const hasDense = model.edges.some((e) => e.kind === "dense");
  return (
    <div className="gv-panel gv-legend">
      <div className="gv-kinds">
        {kinds.map(([k, c]) => (
          <span key={k} className="gv-kind"><i style={{ background: c }} />{k}</span>
        ))}
      </div>
      <div className="gv-kinds">
        <span className="gv-kind"><i className="gv-line" style={{ background: EDGE_COLOURS.flow }} />flow</span>
        <span className="gv-kind"><i className="gv-line" style={{ background: EDGE_COLOURS.skip }} />skip</span>
        {hasDense ? <span className="gv-kind"><i className="gv-line gv-dashed" />dense (via concat)</span> : null}
      </div>
      {legend ? (
        <div className="gv-scale">
          <span>{legend.stat} @ step {legend.step}</span>
          <span>{Number(legend.min).toPrecision(2)}</span>
          <i style={{ background: `linear-gradient(90deg, ${legend.colours.join(",")})` }} />
          <span>{Number(legend.max).toPrecision(2)}</span>
          <span>(log)</span>
        </div>
      ) : null}
    </div>
  );
}

function ConnectPopup({ pending, graphFamily, onClose }) {
  const [merge, setMerge] = useState(pending.merge || "add");
  const [adapter, setAdapter] = useState(pending.adapter || "none");
  const skip = () => {
    send({ event: "add_skip", from: pending.from, to: pending.to, merge, adapter });
    onClose({ merge, adapter });
  };
  return (
    <div className="gv-panel gv-popup" data-testid="gv-connect" style={{ left: pending.x, top: pending.y }}>
      <div className="gv-popup-title">
        <span>{pending.from}</span> → <span>{pending.to}</span>
      </div>
      {graphFamily && pending.wireable ? (
        <button type="button" className="gv-primary" onClick={() => {
          send({ event: "wire", source: pending.from, target: pending.to });
          onClose(null);
        }}>Wire as an input</button>
      ) : null}
      <div className="gv-popup-row">
        <label>Merge
          <select aria-label="merge" value={merge} onChange={(ev) => setMerge(ev.target.value)}>
            {MERGES.map((m) => <option key={m} value={m}>{m}</option>)}
          </select>
        </label>
        <label>Adapter
          <select aria-label="adapter" value={adapter} onChange={(ev) => setAdapter(ev.target.value)}>
            {ADAPTERS.map((m) => <option key={m} value={m}>{m}</option>)}
          </select>
        </label>
      </div>
      <div className="gv-popup-row">
        <button type="button" className={graphFamily ? "" : "gv-primary"} onClick={skip}>Add skip</button>
        <button type="button" onClick={() => onClose(null)}>Cancel</button>
      </div>
    </div>
  );
}

function EdgePopup({ edge, graphFamily, opOf, onClose }) {
  const ir = edge.ir;
  const mergeNode = edge.merges.length === 1 ? edge.merges[0] : null;
  const current = mergeNode ? opOf(mergeNode) : "";
  const [merge, setMerge] = useState(current === "add" ? "concat" : "add");
  return (
    <div className="gv-panel gv-popup" data-testid="gv-edge" style={{ left: edge.x, top: edge.y }}>
      <div className="gv-popup-title">
        {edge.kind === "error" ? "This edit does not fit" : mergeNode ? <>Skip into <span>{mergeNode}</span>
          {current ? ` (${current})` : ""}</>
          : ir ? <><span>{ir.source}</span> → <span>{ir.target}</span></>
            : `${edge.count} edges between these boxes`}
      </div>
      {edge.kind === "error" ? <div className="gv-error-text">{edge.label}</div> : null}
      {edge.label && edge.kind !== "error" ? <div className="gv-note">{edge.label}</div> : null}
      {mergeNode ? (
        <>
          <div className="gv-popup-row">
            <button type="button" className="gv-primary" onClick={() => {
              send({ event: "remove_skip", merge: mergeNode, edit: edge.edit });
              onClose();
            }}>Remove skip</button>
          </div>
          <div className="gv-popup-row">
            <label>Merge
              <select aria-label="new merge" value={merge} onChange={(ev) => setMerge(ev.target.value)}>
                {MERGES.map((m) => <option key={m} value={m}>{m}</option>)}
              </select>
            </label>
            <button type="button" onClick={() => {
              send({ event: "set_merge", merge: mergeNode, to: merge, edit: edge.edit });
              onClose();
            }}>Change merge</button>
          </div>
        </>
      ) : null}
      {graphFamily && ir && ir.kind !== "dense" ? (
        <div className="gv-popup-row">
          <button type="button" onClick={() => {
            send({ event: "unwire", source: ir.source, target: ir.target });
            onClose();
          }}>Remove this wire</button>
        </div>
      ) : null}
      {!mergeNode && !(graphFamily && ir) && edge.kind !== "error" ? (
        <div className="gv-note">{edge.merges.length > 1 ? "Expand the boxes to act on one skip." :
          "A main-path edge: drag from one box to another to add a skip."}</div>
      ) : null}
      <div className="gv-popup-row"><button type="button" onClick={onClose}>Close</button></div>
    </div>
  );
}

// ---- the view ----------------------------------------------------------------------------------------------

export function GraphView({ model, height, viewKey }) {
  const rf = useReactFlow();
  const wrapper = useRef(null);
  const [overrides, setOverrides] = useState({});
  const [layout, setLayout] = useState(null);
  const [selected, setSelected] = useState(null);
  const [pending, setPending] = useState(null);
  const [edgeMenu, setEdgeMenu] = useState(null);
  const [width, setWidth] = useState(() => window.innerWidth);
  const lastChoice = useRef({ merge: "add", adapter: "none" });
  const connectFrom = useRef(null);
  const connectedAt = useRef(-1e9); // a drag between two boxes ends in a click on their common ancestor, the pane
  const seq = useRef(0);
  const fitFor = useRef(null);
  const focus = useRef(null);
  const placed = useRef(null); // the layout the viewport was last set for
  const t0 = useRef(performance.now());

  useEffect(() => { setOverrides({}); setSelected(null); fitFor.current = null; }, [viewKey]);
  useEffect(() => {
    const onResize = () => setWidth(window.innerWidth);
    window.addEventListener("resize", onResize);
    return () => window.removeEventListener("resize", onResize);
  }, []);

  const vis = useMemo(() => visibleGraph(model, overrides), [model, overrides]);
  const sig = useMemo(() => signature(vis), [vis]);

  useEffect(() => {
    const mine = ++seq.current;
    const started = performance.now();
    document.documentElement.dataset.layout = "busy";
    document.documentElement.dataset.layoutSeq = String(mine);
    const frame = wrapper.current ? wrapper.current.getBoundingClientRect().width : width;
    layoutGraph(vis, elk, layoutCache, Math.round((frame || width) / 100) * 100).then((result) => {
      if (mine !== seq.current) return;
      setLayout({ ...result, vis });
      const root = document.documentElement.dataset;
      root.nodes = String(model.nodes.length);
      root.boxes = String(vis.boxes.length);
      root.edges = String(vis.edges.length);
      root.layoutMs = String(Math.round(performance.now() - started));
      root.sinceLoadMs = String(Math.round(performance.now() - t0.current));
      root.laidOutSeq = String(mine);
    }).catch((err) => {
      document.documentElement.dataset.layoutError = String(err).slice(0, 300);
      if (mine !== seq.current) return;
      document.documentElement.dataset.layout = "failed";
      console.error(err); // eslint-disable-line no-console
    });
  }, [sig, width]); // eslint-disable-line react-hooks/exhaustive-deps

  const toggle = useCallback((id, fold) => {
    focus.current = id;
    setOverrides((o) => ({ ...o, [id]: fold }));
  }, []);

  const nodes = useMemo(() => {
    if (!layout) return [];
    const pos = layout.positions;
    // The current model's data (colours, statistics) at the last layout's positions: a change that moves
    // nothing (a statistic at another step) redraws without a new layout.
    const shown = new Set(vis.boxes.map((b) => b.id));
    return vis.boxes.filter((b) => pos.has(b.id)).map((b) => {
      const p = pos.get(b.id);
      const parent = b.parent && shown.has(b.parent) ? pos.get(b.parent) : null;
      const node = {
        id: b.id, type: b.type, draggable: false, selectable: false, connectable: true,
        position: parent ? { x: p.x - parent.x, y: p.y - parent.y } : { x: p.x, y: p.y },
        data: { box: b, toggle, selected: selected === b.id },
        width: p.width, height: p.height, style: { width: p.width, height: p.height },
        // Boxes above the routed edges (so their handles take the pointer), group frames below them.
        zIndex: b.type === "open" ? (b.data.level || 1) : 1010,
      };
      if (parent) node.parentId = b.parent;
      return node;
    });
  }, [layout, vis, toggle, selected]);

  // React Flow measures each box (and its handles) once and reports it as a change; keeping the measurement on
  // our nodes keeps it across re-renders (a node given without one is measured again, and until then its edges
  // are not drawn and its handles start no connection).
  const [rfNodes, setRfNodes] = useState([]);
  useEffect(() => {
    setRfNodes((prev) => {
      const old = new Map(prev.map((n) => [n.id, n]));
      return nodes.map((n) => {
        const o = old.get(n.id);
        return o && o.measured && o.type === n.type && o.width === n.width && o.height === n.height
          ? { ...n, measured: o.measured } : n;
      });
    });
  }, [nodes]);
  const onNodesChange = useCallback((changes) => {
    const sizes = changes.filter((c) => c.type === "dimensions");
    if (sizes.length) setRfNodes((ns) => applyNodeChanges(sizes, ns));
  }, []);

  const edges = useMemo(() => {
    if (!layout) return [];
    const out = [];
    for (const e of vis.edges) {
      const colour = EDGE_COLOURS[e.kind] || EDGE_COLOURS.flow;
      const style = { stroke: colour, strokeWidth: e.kind === "flow" ? 1.4 : 1.8 };
      if (e.kind === "dense") Object.assign(style, { strokeDasharray: "4 3", strokeWidth: 1.1, opacity: 0.55 });
      if (e.kind === "error") Object.assign(style, { strokeDasharray: "6 3", strokeWidth: 2.4 });
      // Routed edges avoid the boxes and are drawn over group frames; arcs pass behind the boxes.
      const base = { id: e.id, source: e.source, target: e.target, sourceHandle: "out", targetHandle: "in",
        style, zIndex: e.layout || e.kind === "error" ? 1000 : 0,
        className: `gv-${e.kind}${e.edit !== null && e.edit !== undefined ? " gv-edit" : ""}${e.merges.length ? " gv-merges" : ""}`, markerEnd: { type: MarkerType.ArrowClosed, color: colour, width: 14, height: 14 } };
      if (e.layout) {
        const r = layout.routes.get(e.id);
        if (!r || !r.points.length) continue;
        out.push({ ...base, type: "routed", data: { points: r.points, labelAt: r.label, text: e.label, edge: e } });
      } else {
        const arc = e.kind === "error" ? errorPath(layout.positions, e.source, e.target)
          : arcPath(layout.positions, e.source, e.target);
        if (!arc) continue;
        out.push({ ...base, type: "arc", data: { d: arc.d, mid: arc.mid, kind: e.kind, text: e.label, edge: e } });
      }
    }
    return out;
  }, [layout, vis]);

  // Fit a new architecture; after a fold or an unfold, keep the zoom and centre what was toggled.
  useEffect(() => {
    if (!layout || !nodes.length) return;
    const frame = wrapper.current ? wrapper.current.getBoundingClientRect() : { width, height };
    if (fitFor.current !== viewKey) {
      fitFor.current = viewKey;
      // Below the toolbar and the legend (taller when a statistic is painted), so neither covers a box.
      const legendBox = wrapper.current && wrapper.current.querySelector(".gv-legend");
      const top = Math.max(52, legendBox ? legendBox.getBoundingClientRect().height + 20 : 0);
      const z = Math.min(1, frame.width / layout.width, (frame.height - top) / layout.height);
      if (z >= 0.45) {
        rf.setViewport({ x: (frame.width - layout.width * z) / 2, y: top, zoom: z });
      } else {
        // Too big to read whole: the start at a readable zoom; the minimap shows the rest.
        const zr = Math.max(0.45, Math.min(1, frame.width / layout.width));
        rf.setViewport({ x: 0, y: top, zoom: zr });
      }
    } else if (focus.current && layout.positions.has(focus.current)) {
      const p = layout.positions.get(focus.current);
      const z = rf.getZoom();
      rf.setCenter(p.x + Math.min(p.width, frame.width / z) / 2, p.y + Math.min(p.height, frame.height / z) / 2,
        { zoom: z });
      focus.current = null;
    }
    placed.current = layout;
  }, [layout, nodes.length]); // eslint-disable-line react-hooks/exhaustive-deps

  // Drawn once React Flow has measured every box and handle (before that a press on a handle starts nothing).
  const virtual = nodes.length > VIRTUAL_FROM;
  const measured = useNodesInitialized({ includeHiddenNodes: !virtual });
  useEffect(() => {
    const root = document.documentElement.dataset;
    root.measured = String(measured);
    if (layout && measured && placed.current === layout) root.layout = "done";
    document.documentElement.dataset.drawnEdges = String(edges.length); // what React Flow was given
  });

  const boxById = useMemo(() => new Map(vis.boxes.map((b) => [b.id, b])), [vis]);
  const selectedBox = selected ? boxById.get(selected) : null;

  const localPoint = (ev) => {
    const r = wrapper.current.getBoundingClientRect();
    const x = (ev.clientX ?? (ev.changedTouches && ev.changedTouches[0].clientX)) - r.left;
    const y = (ev.clientY ?? (ev.changedTouches && ev.changedTouches[0].clientY)) - r.top;
    return { x: Math.min(Math.max(8, x), r.width - 300), y: Math.min(Math.max(8, y), r.height - 200) };
  };

  const onConnectStart = useCallback((_, { nodeId }) => { connectFrom.current = nodeId; }, []);
  const onConnectEnd = useCallback((ev, state) => {
    connectedAt.current = performance.now();
    const source = connectFrom.current;
    connectFrom.current = null;
    let target = state && state.toNode ? state.toNode.id : null;
    if (!target) {
      const point = ev.changedTouches ? ev.changedTouches[0] : ev;
      const el = document.elementFromPoint(point.clientX, point.clientY);
      const hit = el && el.closest(".react-flow__node");
      target = hit ? hit.getAttribute("data-id") : null;
    }
    if (!source || !target || source === target) return;
    const s = boxById.get(source);
    const t = boxById.get(target);
    if (!s || !t) return;
    setEdgeMenu(null);
    setPending({ from: nameOf(s), to: nameOf(t), wireable: t.type === "op", ...lastChoice.current,
      ...localPoint(ev) });
  }, [boxById]); // eslint-disable-line react-hooks/exhaustive-deps

  const onNodeClick = useCallback((ev, node) => {
    setSelected(node.id);
    setEdgeMenu(null);
    if (model.meta.graph_family && !model.meta.readonly) {
      const b = boxById.get(node.id);
      if (b && b.type === "op") send({ event: "select", name: b.data.name });
    }
  }, [boxById, model]);

  const readonly = Boolean(model.meta.readonly); // a run's architecture: look and read, no drawing
  const onEdgeClick = useCallback((ev, edge) => {
    if (model.meta.readonly) return;
    setPending(null);
    setEdgeMenu({ ...edge.data.edge, ...localPoint(ev) });
  }, []); // eslint-disable-line react-hooks/exhaustive-deps

  const setAll = (fold) => {
    const o = {};
    for (const g of model.groups) o[g.id] = fold;
    focus.current = null;
    fitFor.current = null;
    setOverrides(o);
  };

  return (
    <div ref={wrapper} className={`gv-root${readonly ? " gv-readonly" : ""}`} style={{ height }}
      data-testid="graph-view">
      <ReactFlow nodes={rfNodes} edges={edges} onNodesChange={onNodesChange} nodeTypes={nodeTypes} edgeTypes={edgeTypes}
        nodesDraggable={false} nodesConnectable={!readonly} elementsSelectable={false} minZoom={0.03} maxZoom={2.5}
        onConnectStart={onConnectStart} onConnectEnd={onConnectEnd} onNodeClick={onNodeClick}
        onEdgeClick={onEdgeClick} onPaneClick={() => {
          if (performance.now() - connectedAt.current < 400) return; // that click closes nothing
          setSelected(null); setEdgeMenu(null); setPending(null);
        }}
        onlyRenderVisibleElements={virtual} proOptions={{ hideAttribution: true }}
        zoomOnDoubleClick={false}>
        <Panel position="top-left">
          <div className="gv-panel gv-toolbar">
            <button type="button" onClick={() => setAll(false)} title="Open every stage and block">Expand all</button>
            <button type="button" onClick={() => setAll(true)} title="Fold every stage and block">Collapse all</button>
            <button type="button" onClick={() => { fitFor.current = null; focus.current = null; setOverrides({}); }}
              title="The default folding">Default view</button>
            <button type="button" onClick={() => rf.fitView({ padding: 0.04, duration: 0, maxZoom: 1 })} title="Show it all">
              Fit</button>
            <span className="gv-count" data-testid="gv-count">
              {vis.boxes.filter((b) => b.type !== "open").length} boxes · {model.nodes.length} nodes
            </span>
          </div>
        </Panel>
        <Panel position="top-right"><Legend model={model} /></Panel>
        <MiniMap pannable zoomable nodeStrokeWidth={2} style={{ width: 160, height: 90 }}
          nodeColor={(n) => (n.type === "open" ? "rgba(120,130,150,0.12)" : n.data.box.data.colour || "#8892a6")} />
      </ReactFlow>
      {layout ? null : <div className="gv-busy">Laying out…</div>}
      <InfoPanel box={selectedBox} legend={model.meta.legend} onClose={() => setSelected(null)} />
      {pending ? (
        <ConnectPopup key={`${pending.from}>${pending.to}`} pending={pending} graphFamily={model.meta.graph_family}
          onClose={(choice) => { if (choice) lastChoice.current = choice; setPending(null); }} />
      ) : null}
      {edgeMenu ? (
        <EdgePopup key={edgeMenu.id} edge={edgeMenu} graphFamily={model.meta.graph_family}
          opOf={(name) => { const n = model.nodes.find((x) => x.id === name); return n ? n.op : ""; }}
          onClose={() => setEdgeMenu(null)} />
      ) : null}
      {model.meta.error ? <div className="gv-error-banner" data-testid="gv-error">{model.meta.error}</div> : null}
    </div>
  );
}

