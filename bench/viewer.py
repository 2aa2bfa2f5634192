"""The browser viewer on a real chest radiograph: time to first image and window/level frames.

    .venv/bin/python -m bench.viewer [--file PATH] [--opens 10] [--moves 60] [--out FILE]

Starts a throw-away stack (embedded PostgreSQL and Redis under a temporary directory, the ASGI
web process under daphne), uploads the NEMA RG1 chest CR (1955x1841, 15-bit, MONOCHROME1,
uncompressed; ``../shared/data/dicom``) through ``POST /api/v1/instances``, signs in a
radiologist in headless Chromium (Debian's ``/usr/bin/chromium``) and measures:

* **open to first image**: from navigation start of ``/studies/<uid>/`` to the first canvas
  paint of the decoded 16-bit frame (``performance.now()`` recorded by the page), ``--opens``
  times. It includes the server rendering the 16-bit PNG, the transfer, decoding it in
  JavaScript and the first window/level pass;
* the same frame's request alone (server render and transfer, ``requests``), and the page's
  fetch-and-decode time, to show where the first-image time goes;
* **window/level frame time**: the page's own paint time of each frame during a mouse drag
  (lookup table over the 16-bit values, 3.6 Mpx, ``putImageData``, ``drawImage``), ``--moves``
  pointer moves, plus the wall time from each pointer move to its painted frame as Playwright
  sees it (includes the DevTools protocol round trip).

Prints P50/P95 and returns (``main``) a dict of figures in ``bench.common`` shape. No drafting
model is needed: the page shows the study without a draft.
"""

from __future__ import annotations

import argparse
import json
import secrets
import tempfile
from pathlib import Path
from typing import Any

from bench.common import (
    BASE_DIR,
    free_port,
    latency_figures,
    machine,
    project_stack,
    serve_web,
    stop,
)

CHROMIUM = Path("/usr/bin/chromium")
NEMA_CR = BASE_DIR.parent / "shared" / "data" / "dicom" / "nema_RG1_chest_CR_UNCI.dcm"
USERNAME = "bench-reader"

_CREATE_READER = """
from workstation.accounts.roles import Role, roles_ensure
from workstation.accounts.services import user_create_with_role
roles_ensure()
user_create_with_role(username={username!r}, role=Role.RADIOLOGIST, password={password!r})
"""

# Resolves after the frame following the current one: the viewer paints in the next
# animation frame after a pointer move, and its paint has run once this resolves.
_NEXT_PAINT = "() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))"


def _upload(base: str, path: Path, password: str) -> str:
    """POST the file as ``application/dicom``; returns its Study Instance UID."""
    import pydicom
    import requests

    token = requests.post(
        f"{base}/api/v1/auth/token", data={"username": USERNAME, "password": password}, timeout=30
    ).json()["token"]
    response = requests.post(
        f"{base}/api/v1/instances",
        data=path.read_bytes(),
        headers={"Content-Type": "application/dicom", "Authorization": f"Token {token}"},
        timeout=120,
    )
    if response.status_code >= 300:
        raise RuntimeError(f"upload of {path} refused: {response.status_code} {response.text}")
    return str(pydicom.dcmread(path, stop_before_pixels=True).StudyInstanceUID)


def _server_render_ms(base: str, sop_uid: str, password: str, runs: int) -> list[float]:
    """Wall time of the raw16 frame request alone (server render + transfer), no browser."""
    import time

    import requests

    session = requests.Session()
    token = session.post(
        f"{base}/api/v1/auth/token", data={"username": USERNAME, "password": password}, timeout=30
    ).json()["token"]
    session.headers["Authorization"] = f"Token {token}"
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        response = session.get(
            f"{base}/api/v1/instances/{sop_uid}/frame",
            params={"mode": "raw16", "size": 2048},
            timeout=120,
        )
        response.raise_for_status()
        times.append((time.perf_counter() - started) * 1000.0)
    return times


def _measure(base: str, study_uid: str, password: str, opens: int, moves: int) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    first_image_ms: list[float] = []
    load_ms: list[float] = []
    paint_ms: list[float] = []
    move_to_paint_ms: list[float] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        page = browser.new_page(viewport={"width": 1920, "height": 1080})
        page.set_default_timeout(120_000)
        page.goto(f"{base}/accounts/login/")
        page.fill("#id_username", USERNAME)
        page.fill("#id_password", password)
        page.click("button[type=submit]")
        page.wait_for_url(f"{base}/")
        for _ in range(opens):
            page.goto(f"{base}/studies/{study_uid}/")
            page.wait_for_selector("#image-canvas[data-first-paint-ms]")
            first_image_ms.append(float(page.get_attribute("#image-canvas", "data-first-paint-ms")))
            load_ms.append(float(page.get_attribute("#image-canvas", "data-load-ms")))
        box = page.locator("#image-canvas").bounding_box()
        assert box is not None
        x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
        page.mouse.move(x, y)
        page.mouse.down()
        for step in range(1, moves + 1):
            started = page.evaluate("() => performance.now()")
            page.mouse.move(x + 3 * step, y - 2 * step)
            page.evaluate(_NEXT_PAINT)
            move_to_paint_ms.append(page.evaluate("() => performance.now()") - started)
            paint_ms.append(float(page.get_attribute("#image-canvas", "data-frame-ms")))
        page.mouse.up()
        size = page.inner_text("#image-state")
        browser.close()
    return {
        "image": size,
        **latency_figures(first_image_ms, "open_to_first_image"),
        **latency_figures(load_ms, "frame_fetch_and_decode"),
        **latency_figures(paint_ms, "window_level_paint"),
        **latency_figures(move_to_paint_ms, "window_level_move_to_paint"),
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    import pydicom

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--file", type=Path, default=NEMA_CR, help="a DICOM image to open")
    parser.add_argument("--opens", type=int, default=10, help="page opens to time")
    parser.add_argument("--moves", type=int, default=60, help="window/level drag steps")
    parser.add_argument("--out", type=Path, help="also write the result as JSON here")
    args = parser.parse_args(argv)
    if not args.file.is_file():
        parser.error(f"{args.file} is absent (../shared/data/dicom holds the NEMA chest CR)")
    if not CHROMIUM.exists():
        parser.error(f"{CHROMIUM} is absent: install Debian's chromium (make install does)")
    password = secrets.token_urlsafe(16)
    port = free_port()
    with (
        tempfile.TemporaryDirectory(prefix="bench-viewer-") as tmp,
        project_stack(Path(tmp)) as stack,
    ):
        stack.run("shell", "-c", _CREATE_READER.format(username=USERNAME, password=password))
        web = serve_web(port, stack.env, timeout=120)
        try:
            base = f"http://127.0.0.1:{port}"
            study_uid = _upload(base, args.file, password)
            figures = _measure(base, study_uid, password, args.opens, args.moves)
            sop_uid = str(pydicom.dcmread(args.file, stop_before_pixels=True).SOPInstanceUID)
            server = _server_render_ms(base, sop_uid, password, args.opens)
            figures.update(latency_figures(server, "frame_server_render"))
        finally:
            stop(web)
    result = {"benchmark": "viewer", "file": args.file.name, "machine": machine(), **figures}
    _print(result)
    if args.out:
        args.out.write_text(json.dumps(result, indent=2))
    return result


def _print(result: dict[str, Any]) -> None:
    print(f"viewer benchmark: {result['file']} ({result['image']}) in headless Chromium")
    names = (
        "open_to_first_image",
        "frame_fetch_and_decode",
        "frame_server_render",
        "window_level_paint",
        "window_level_move_to_paint",
    )
    for name in names:
        p50, p95 = result[f"{name}_p50"], result[f"{name}_p95"]
        print(
            f"  {name:<28} P50 {p50['value']:8.1f} ms  P95 {p95['value']:8.1f} ms  n={p50['runs']}"
        )


if __name__ == "__main__":
    main()
