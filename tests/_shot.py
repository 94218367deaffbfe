import sys
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from playwright.sync_api import sync_playwright
from tests.browser_support import CHROMIUM, CHROMIUM_FLAGS, streamlit_server, wait_idle, select
store = Path(sys.argv[1]); out = sys.argv[2]; pick = sys.argv[3] if len(sys.argv) > 3 else None
with streamlit_server(store) as url, sync_playwright() as p:
    b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
    page = b.new_page(viewport={"width": 1400, "height": int(sys.argv[4]) if len(sys.argv) > 4 else 4200})
    page.goto(url + "/experiments"); wait_idle(page, 120000)
    if pick:
        select(page, "Open", pick)
    page.get_by_text("Conclusion.").first.wait_for(timeout=180000); page.wait_for_timeout(4000)
    page.screenshot(path=out, full_page=True)
    b.close()
