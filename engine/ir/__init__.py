"""The graph IR: named nodes with their stage and block, shapes, connectivity edits, and the op registry
(one self-contained definition per op). Imports engine.core and engine.spec."""
