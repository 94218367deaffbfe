"""Screenshot the Experiments page on a store holding a finished experiment (manual check of the layout)."""
import sys
import time
from pathlib import Path

sys.path.insert(0, ".")
from playwright.sync_api import sync_playwright  # noqa: E402

from tests.browser_support import CHROMIUM, CHROMIUM_FLAGS, streamlit_server  # noqa: E402

store = Path(sys.argv[1])
out = Path(sys.argv[2])
with streamlit_server(store) as url, sync_playwright() as p:
    browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
    page = browser.new_page(viewport={"width": 1400, "height": 2400})
    page.goto(f"{url}/experiments", timeout=120000)
    page.wait_for_selector("text=Conclusion", timeout=120000)
    time.sleep(6)
    page.screenshot(path=str(out), full_page=False)
    browser.close()
print(out)
