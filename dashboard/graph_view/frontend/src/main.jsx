import React, { useEffect, useState } from "react";
import { createRoot } from "react-dom/client";
import { ReactFlowProvider } from "@xyflow/react";
import "@xyflow/react/dist/style.css";
import "./style.css";
import { GraphView } from "./App.jsx";
import { Streamlit } from "./streamlit.js";

function Root() {
  const [args, setArgs] = useState(null);
  useEffect(() => {
    Streamlit.onRender((next) => {
      // Python sends the model as a JSON string: one parse, and an unchanged model is the same string.
      setArgs((prev) => (prev && prev.model === next.model && prev.height === next.height ? prev : next));
    });
    Streamlit.ready();
  }, []);
  useEffect(() => {
    if (args) Streamlit.setFrameHeight(args.height);
  }, [args && args.height]); // eslint-disable-line react-hooks/exhaustive-deps
  const model = React.useMemo(() => (args ? JSON.parse(args.model) : null), [args && args.model]); // eslint-disable-line
  if (!model) return <div className="gv-busy">Loading the graph view…</div>;
  return (
    <ReactFlowProvider>
      <GraphView model={model} height={args.height} viewKey={args.view_key} />
    </ReactFlowProvider>
  );
}

document.documentElement.dataset.mountedAt = String(Date.now());
createRoot(document.getElementById("root")).render(<Root />);
