"""Build: pick a preset, see its shapes, parameters and MACs per stage."""

import pandas as pd
import streamlit as st

from dashboard.state import analyze_spec
from engine.errors import SkipLabError
from engine.presets import get_preset, preset_names
from engine.report import si

st.title("Build")
names = preset_names()
name = st.selectbox("Preset", names, index=names.index("resnet56") if "resnet56" in names else 0, key="build_preset",
                    help="A named architecture to start from.")
try:
    spec = get_preset(name)
    a = analyze_spec(spec)
except SkipLabError as exc:
    st.error(str(exc))
    st.stop()

cols = st.columns(4)
cols[0].metric("Parameters", f"{a.params:,}")
cols[1].metric("MACs", si(a.macs))
cols[2].metric("FLOPs (forward)", si(a.flops))
cols[3].metric("Depth", a.depth)

st.subheader("Per stage")
stages = pd.DataFrame([{"stage": g.name, "params": g.params, "MACs": g.macs, "nodes": g.nodes}
                       for g in a.groups if g.level == 1])
st.dataframe(stages, hide_index=True, width="stretch")
with st.expander("Every node"):
    st.dataframe(pd.DataFrame([{"node": n.name, "op": n.op, "output": str(n.out_shape), "params": n.params,
                                "MACs": n.macs} for n in a.nodes]), hide_index=True, width="stretch")
