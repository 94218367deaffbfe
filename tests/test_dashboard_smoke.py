"""AppTest: the dashboard starts and the Build page shows a preset's summary."""

from streamlit.testing.v1 import AppTest


def test_build_page_shows_resnet50_params():
    at = AppTest.from_file("../dashboard/app.py", default_timeout=60).run()
    assert not at.exception
    at.selectbox(key="build_preset").set_value("resnet50").run()  # the on_change callback loads it
    assert not at.exception
    assert any(m.value == "25,557,032" for m in at.metric)
