"""Make docs/resource-page.png, the README's picture of a resource page.

The sample script scripts_src/breathing-practice.md (with its page text and the project's
voicetrack.toml) is built and published in a temporary folder with the voices this machine
has, served by the preview server, and photographed by headless Chromium (Debian's
/usr/bin/chromium, through Playwright). The PNG is reduced to a palette to stay small.

    .venv/bin/python docs/screenshot.py
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from io import BytesIO
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline.build import BuildOptions, build  # noqa: E402
from pipeline.site.preview import serving  # noqa: E402
from pipeline.site.publish import publish_site  # noqa: E402

SCRIPT = "breathing-practice"
CHROMIUM = "/usr/bin/chromium"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "resource-page.png")
    parser.add_argument("--width", type=int, default=1024)
    parser.add_argument("--height", type=int, default=1180)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder:
        project = Path(folder)
        (project / "scripts_src").mkdir()
        for name in (f"{SCRIPT}.md", f"{SCRIPT}.about.md", "lexicon.toml"):
            shutil.copy2(ROOT / "scripts_src" / name, project / "scripts_src" / name)
        shutil.copy2(ROOT / "voicetrack.toml", project / "voicetrack.toml")
        script = project / "scripts_src" / f"{SCRIPT}.md"
        build([script], BuildOptions(root=project, out_dir=project / "out", jobs=2))
        publish_site(project, project / "out", paths=[script])
        png = photograph(project / "out" / "site", f"{SCRIPT}/", args.width, args.height)
    args.out.write_bytes(png)
    print(f"wrote {args.out} ({len(png) // 1024} KB)")


def photograph(site: Path, path: str, width: int, height: int) -> bytes:
    from playwright.sync_api import sync_playwright

    with serving(site) as url, sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-background-networking", "--no-first-run"],
        )
        page = browser.new_page(viewport={"width": width, "height": height}, locale="en-GB")
        page.goto(url + path)
        page.wait_for_function("() => document.documentElement.classList.contains('enhanced')")
        # Show a moment of listening: the second chapter playing, its first sentence lit.
        page.get_by_role("region", name="Chapters").get_by_role("link").nth(1).click()
        page.wait_for_function("() => document.querySelector('.cue.current') !== null")
        page.evaluate("() => document.querySelector('audio').pause()")
        shot = page.screenshot(full_page=False)
        browser.close()
    return small_png(shot)


def small_png(data: bytes) -> bytes:
    from PIL import Image

    image = Image.open(BytesIO(data)).convert("RGB")
    out = BytesIO()
    image.quantize(colors=64, method=Image.Quantize.MEDIANCUT).save(out, "PNG", optimize=True)
    return out.getvalue()


if __name__ == "__main__":
    main()
