"""Blocks: basic vs bottleneck at a chosen width, resolution and BN setting — parameters and MACs side by side, the
ratio and its formula — and the ResNet family with our counts next to the published figures."""

import pandas as pd
import streamlit as st

from dashboard import text as safe
from dashboard.charts import paired_bars, stage_params_bar
from dashboard.state import analyze_spec
from dashboard.tables import show
from engine.api import block_costs, get_preset, published_figures, si

st.title("Blocks")
st.caption("Why ResNet-50 and deeper use bottlenecks: at equal width a bottleneck has 16.94x fewer conv weights.")
c = st.columns(3)
channels = c[0].select_slider("Channels C", [16, 32, 64, 128, 256, 512, 1024, 2048], value=256, key="blocks_c",
                              help="The block's input and output width; the bottleneck's inner width is C/4.")
size = c[1].select_slider("Resolution H = W", [7, 14, 28, 56, 112, 224], value=14, key="blocks_hw",
                          help="Spatial size of the feature map (MACs scale with H x W).")
with_bn = c[2].toggle("BatchNorm", value=True, key="blocks_bn", help="Count BN's gamma and beta as parameters.")

basic = block_costs("basic", channels, size, size, with_bn)
bottle = block_costs("bottleneck", channels, size, size, with_bn)
m = st.columns(4)
m[0].metric("Basic block params", f"{basic.block.params:,}", help=basic.block.params_formula)  # engine text
m[1].metric("Bottleneck params", f"{bottle.block.params:,}", help=bottle.block.params_formula)  # engine text
m[2].metric("Conv-weight ratio", f"{basic.ratio:.1f}x", help=basic.ratio_formula)  # engine text
m[3].metric("MACs ratio", f"{basic.block.macs / bottle.block.macs:.1f}x",
            help="At stride 1 MACs are conv weights x H x W, so the ratio is the same.")
left, right = st.columns(2)
safe.chart(paired_bars(["params", "conv weights"], {
    "basic": [basic.block.params, basic.block.conv_weights],
    "bottleneck": [bottle.block.params, bottle.block.conv_weights]}, log=True, title=f"Parameters at C = {channels}"),
    key="blocks_params", container=left)
safe.chart(paired_bars(["MACs", "FLOPs"], {
    "basic": [basic.block.macs, basic.block.flops],
    "bottleneck": [bottle.block.macs, bottle.block.flops]}, log=True, title=f"Compute at {size}x{size}"),
    key="blocks_macs", container=right)
st.latex(r"\text{basic: } 2 \cdot 3^2 C^2 = 18C^2 \qquad \text{bottleneck: } C\cdot\tfrac{C}{4} + 9\left(\tfrac{C}{4}"
         r"\right)^2 + \tfrac{C}{4}\cdot C = \tfrac{17}{16}C^2 \qquad \frac{18}{17/16} = \frac{288}{17} \approx 16.94")
st.caption(f"A projection shortcut (1x1 conv{' + BN' if with_bn else ''}) adds {basic.projection.params:,} "
           f"parameters ({basic.projection.params_formula}) and {si(basic.projection.macs)} MACs where the shape "
           "changes (option B) or in every block (option C).")  # engine text

st.subheader("The ResNet family: our counts vs the published figures")
names = ["resnet18", "resnet34", "resnet50", "resnet101", "resnet152", "resnet20", "resnet32", "resnet44",
         "resnet56", "resnet110"]
rows, analyses = [], {}
for name in names:
    a = analyze_spec(get_preset(name))
    analyses[name] = a
    params, macs, source = published_figures()[name]
    rows.append({"net": name, "block": get_preset(name).block, "depth": a.depth, "params (ours)": a.params,
                 "params (published)": params, "MACs (ours)": si(a.macs), "MACs (published)": si(macs),
                 "match": "✓" if a.params == params and abs(a.macs - macs) / macs < 1e-3 else "✗", "source": source})
show(pd.DataFrame(rows), key="blocks_family")
family = st.segmented_control("Stacked by stage", ["ImageNet nets", "CIFAR nets"], default="ImageNet nets",
                              key="blocks_family_pick")
picked = names[:5] if family != "CIFAR nets" else names[5:]
safe.chart(stage_params_bar({n: analyses[n] for n in picked}), key="blocks_stages")
