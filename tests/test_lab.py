"""``make lab`` (utils.presentation.lab) and the notebooks as a reader meets them: in JupyterLab, in a browser.

The launcher tests are plain unit tests. The browser test starts JupyterLab exactly as ``make lab
PORT=<free port>`` does on a machine without a display (same launcher, same arguments), reads the
address with its fresh token from the server's own output, and drives the JupyterLab UI in Debian's
headless Chromium through Playwright: it opens the reading guide and notebook 06 from the file
browser, runs every cell through the Run menu in quick mode, checks that no cell shows an error and
that every figure has a size, then moves the module, branch and channel controls of notebook 06's
explorer and checks that its figure changes each time. Screenshots go to the test's tmp folder;
with ``GOOGLENET_UPDATE_ASSETS=1`` the reading guide's also becomes ``assets/lab_reading_guide.png``
(the README's picture). Chromium comes from ``tests/setup_browser.sh``; without it the test is
skipped. The server is shut down in every case, kernels included.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

from utils.paths import ASSETS, NOTEBOOKS, ROOT
from utils.presentation import lab

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
# Notebook 06 trains the quick model on first use when no checkpoint exists (minutes, far more on a
# CPU shared with a training run); each notebook's run may take this long before the test gives up.
RUN_TIMEOUT_S = float(os.environ.get("GOOGLENET_LAB_TIMEOUT_S", "2400"))
UI_TIMEOUT_S = RUN_TIMEOUT_S / 8  # starting the server, loading the page, one click's effect
README_SHOT = ASSETS / "lab_reading_guide.png"


# ----------------------------------------------------------------------------- the launcher


def test_lab_args_allow_root_only_for_root():
    assert "--allow-root" in lab.lab_args(euid=0)
    assert "--allow-root" not in lab.lab_args(euid=1000)


def test_lab_args_open_the_reading_guide_from_the_project_root():
    args = lab.lab_args(port=8890, open_browser=False, euid=1000, extra=["--ip=0.0.0.0"])
    assert args[-1] == lab.GUIDE == "notebooks/00_reading_guide.ipynb"
    assert f"--ServerApp.root_dir={ROOT}" in args  # so ../paper_notes links resolve
    assert "--LabApp.default_url=/lab/tree/notebooks/00_reading_guide.ipynb" in args
    assert {"--port=8890", "--ServerApp.port_retries=0", "--no-browser", "--ip=0.0.0.0"} <= set(args)
    default = lab.lab_args(euid=1000)
    assert not [a for a in default if a.startswith("--port") or a == "--no-browser"]


@pytest.mark.parametrize("kwargs, error, match", [
    ({"port": 0}, ValueError, "port 0 is not a TCP port"),
    ({"port": 70000}, ValueError, "1..65535"),
    ({"notebook": "notebooks/no_such.ipynb"}, FileNotFoundError, "no notebook"),
])
def test_lab_args_reject_bad_input(kwargs, error, match):
    with pytest.raises(error, match=match):
        lab.lab_args(**kwargs)


def test_launcher_reports_bad_input_in_one_line():
    result = subprocess.run([sys.executable, "-m", "utils.presentation.lab", "--port=0"], cwd=ROOT,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: port 0 is not a TCP port; give one in 1..65535, e.g. PORT=8890"]


@pytest.mark.parametrize("env, platform, expected", [
    ({}, "linux", False),  # ssh session, container: nothing to open
    ({"BROWSER": "firefox"}, "linux", True),  # the reader's own choice
    ({}, "darwin", True),
    ({}, "win32", True),
])
def test_has_browser(env, platform, expected):
    assert lab.has_browser(env, platform) is expected


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_lab_runs_the_launcher_this_file_starts():
    def recipe(*variables: str) -> str:
        out = subprocess.run(["make", "-n", "lab", *variables], cwd=ROOT, capture_output=True,
                             text=True, check=True, timeout=60).stdout
        return [line for line in out.splitlines() if "utils.presentation.lab" in line][-1].split()

    assert recipe() == [".venv/bin/python", "-m", "utils.presentation.lab"]
    assert recipe("PORT=8890", "NO_BROWSER=1") == [
        ".venv/bin/python", "-m", "utils.presentation.lab", "--port=8890", "--no-browser"]
    assert "--no-browser" not in recipe("NO_BROWSER=0")


# ----------------------------------------------------------------------------- the server


@dataclass
class Lab:
    url: str  # the address the server printed: the reading guide, with the token
    origin: str  # http://127.0.0.1:PORT
    token: str
    log: Path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _write_json(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data), encoding="utf-8")


def _lab_env(tmp: Path) -> dict[str, str]:
    """The reader's environment on a machine with no display, and a JupyterLab of its own."""
    settings = tmp / "settings"
    # The notebooks are run, never saved: the committed copies keep their full-mode outputs.
    _write_json(settings / "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings", {"autosave": False})
    # No network here; the news prompt would only cover the page.
    _write_json(settings / "@jupyterlab/apputils-extension/notification.jupyterlab-settings",
                {"fetchNews": "false", "checkForUpdates": False})
    env = {k: v for k, v in os.environ.items()
           if k not in {"DISPLAY", "WAYLAND_DISPLAY", "BROWSER", "JUPYTER_TOKEN"}}
    env.update(GOOGLENET_QUICK="1", JUPYTER_RUNTIME_DIR=str(tmp / "runtime"),
               JUPYTERLAB_SETTINGS_DIR=str(settings), JUPYTERLAB_WORKSPACES_DIR=str(tmp / "workspaces"))
    return env


def _descendants(pid: int) -> list[int]:
    """Every process below ``pid``: kernels run in sessions of their own, out of the server's group."""
    try:
        import psutil
    except ImportError:
        return []
    try:
        return [p.pid for p in psutil.Process(pid).children(recursive=True)]
    except psutil.Error:
        return []


def _stop(process: subprocess.Popen, origin: str, token: str | None) -> None:
    """Shut the server and its kernels down: politely, then by signal, then by force."""
    kernels = _descendants(process.pid)
    if token and process.poll() is None:
        request = urllib.request.Request(f"{origin}/api/shutdown", method="POST",
                                         headers={"Authorization": f"token {token}"})
        try:
            urllib.request.urlopen(request, timeout=10).close()
        except OSError:
            pass
    for sig, wait_s in ((None, 30), (signal.SIGTERM, 15), (signal.SIGKILL, 10)):
        if sig is not None:
            try:
                os.killpg(process.pid, sig)
            except ProcessLookupError:
                break
        try:
            process.wait(wait_s)
            break
        except subprocess.TimeoutExpired:
            continue
    for pid in kernels:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


@pytest.fixture(scope="module")
def lab_server(tmp_path_factory):
    """JupyterLab as ``make lab PORT=<free port>`` starts it where there is no display."""
    tmp = tmp_path_factory.mktemp("lab")
    port = _free_port()
    log = tmp / "server.log"
    command = [sys.executable, "-m", "utils.presentation.lab", f"--port={port}"]
    origin = f"http://127.0.0.1:{port}"
    token = None
    with open(log, "wb") as out:
        process = subprocess.Popen(command, cwd=ROOT, env=_lab_env(tmp), stdout=out, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        pattern = re.compile(re.escape(origin) + r"/lab/tree/notebooks/00_reading_guide\.ipynb\?token=(\w+)")
        deadline = time.monotonic() + UI_TIMEOUT_S
        while token is None:
            text = log.read_text(encoding="utf-8", errors="replace")
            match = pattern.search(text)
            if match:
                token = match.group(1)
            elif process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"JupyterLab printed no address with a token (exit {process.poll()}):\n{text[-3000:]}")
            else:
                time.sleep(0.5)
        # headless: the launcher said why no browser opens, and the server kept running
        assert "no browser is opened (no display or web browser was found)" in text
        assert ("--allow-root" in text) == (os.geteuid() == 0)
        assert process.poll() is None
        yield Lab(match.group(0), origin, token, log)
    finally:
        _stop(process, origin, token)


# ----------------------------------------------------------------------------- driving the UI

_CURRENT_PANEL = """() => {
    const tab = document.querySelector('#jp-main-dock-panel .lm-TabBar-tab.lm-mod-current');
    return tab ? tab.getAttribute('data-id') : null;
}"""
_ERROR_TEXT = re.compile(r"Traceback \(most recent call last\)|Cell In\[\d+\], line \d+")


class NotebookPage:
    """The notebook in JupyterLab's current main-area tab, seen as a reader sees it."""

    def __init__(self, page, name: str):
        self.page, self.name = page, name
        self.page.wait_for_function(f"""() => {{
            const id = ({_CURRENT_PANEL})();
            const el = id && document.getElementById(id);
            return el && el.classList.contains('jp-NotebookPanel') && el.querySelector('.jp-Cell')
                   && document.querySelector('#jp-main-dock-panel .lm-TabBar-tab.lm-mod-current')
                          .innerText.includes({json.dumps(name)});
        }}""", timeout=UI_TIMEOUT_S * 1000)
        self.panel = page.locator("#" + page.evaluate(_CURRENT_PANEL))
        self.wait_for_kernel(UI_TIMEOUT_S)

    def accept_dialogs(self) -> None:
        """Answer JupyterLab's kernel choice (a notebook without a kernelspec) as a reader would."""
        for button in self.page.locator(".jp-Dialog .jp-mod-accept").all():
            if button.is_visible():
                button.click()

    def status(self) -> str:
        """The kernel's state as the toolbar and the status bar show it ('idle' only when both agree)."""
        status = self.panel.locator(".jp-Notebook-ExecutionIndicator").first.get_attribute("data-status") or ""
        bar = self.page.locator("#jp-main-statusbar").inner_text()
        return status if status != "idle" or re.search(r"\|\s*Idle", bar) else f"idle ({bar.strip()!r})"

    def wait_for_kernel(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            self.accept_dialogs()
            if self.status() == "idle":
                return
            time.sleep(0.5)
        raise AssertionError(f"{self.name}: the kernel is not idle after {timeout_s:.0f} s ({self.status()!r})")

    def menu(self, menu: str, command: str) -> None:
        """Click ``menu`` in the menu bar, then the item of the JupyterLab command ``command``."""
        self.accept_dialogs()
        self.page.locator(".lm-MenuBar-item", has_text=re.compile(f"^{menu}$")).click()
        self.page.locator(f".lm-Menu-item[data-command='{command}']").click()

    def prompts(self) -> list[str]:
        return [p.strip() for p in self.panel.locator(".jp-CodeCell .jp-InputPrompt").all_text_contents()]

    def run_all(self, timeout_s: float) -> float:
        """Clear every output, run every cell (Run > Run All Cells), wait for the kernel; seconds taken."""
        self.menu("Edit", "editmenu:clear-all")
        self.page.wait_for_function("el => !el.querySelector('.jp-OutputArea-output')",
                                    arg=self.panel.element_handle())
        start = time.monotonic()
        self.menu("Run", "runmenu:run-all")
        deadline = start + timeout_s
        while True:
            time.sleep(2)
            prompts = self.prompts()
            if self.status() == "idle" and ("[*]:" not in prompts or self.errors()):
                break
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.name}: still running after {timeout_s:.0f} s: {prompts}")
        # a fresh kernel numbers the cells 1..N in order; Run All stops at the first error
        assert prompts == [f"[{i}]:" for i in range(1, len(prompts) + 1)], (
            f"{self.name}: not every cell ran: {prompts}\n{self.errors()}")
        return time.monotonic() - start

    def errors(self) -> list[str]:
        texts = self.panel.locator(
            ".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']").all_text_contents()
        return [t[:2000] for t in texts if _ERROR_TEXT.search(t)]

    def figures(self, scope=None) -> list[dict]:
        """Every image output, scrolled into view (JupyterLab skips rendering cells out of sight)."""
        sizes = []
        for img in (scope or self.panel).locator(".jp-OutputArea-output img").all():
            img.scroll_into_view_if_needed()
            sizes.append(img.evaluate("""e => ({ok: e.complete && e.naturalWidth > 0,
                w: e.getBoundingClientRect().width, h: e.getBoundingClientRect().height})"""))
        return sizes

    def open_from_file_browser(self, path: Path) -> NotebookPage:
        """Double-click ``path`` (a notebook in notebooks/) in the file browser."""
        item = self.page.locator(".jp-DirListing-item", has_text=path.name)
        item.scroll_into_view_if_needed()
        item.dblclick()
        return NotebookPage(self.page, path.name)


def _save_png(page_or_locator, path: Path, max_bytes: int | None = None) -> bytes:
    """A screenshot; with ``max_bytes``, palette-reduced (a UI has few colours) and written atomically."""
    png = page_or_locator.screenshot()
    if max_bytes is None:
        path.write_bytes(png)
        return png
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("RGB").quantize(colors=128, method=Image.Quantize.MEDIANCUT)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    data = buffer.getvalue()
    assert len(data) < max_bytes, f"{path.name} would be {len(data)} bytes (limit {max_bytes})"
    tmp = path.with_suffix(".tmp.png")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    return data


class Explorer:
    """Notebook 06's branch explorer (utils.presentation.explorer.explorer), found by widget type and label.

    Its controls are ipywidgets: dropdowns (``select``) for image, module and branch and a slider for
    the channel, above an Output widget holding the figure. A label is used where it names the
    control, else the order in which the explorer lays them out.
    """

    def __init__(self, notebook: NotebookPage):
        boxes = notebook.panel.locator(".widget-vbox").filter(
            has=notebook.page.locator(".widget-dropdown")).filter(
            has=notebook.page.locator(".widget-slider")).filter(has=notebook.page.locator(".widget-output"))
        assert boxes.count() >= 1, f"{notebook.name}: no explorer widget (dropdowns, slider and output)"
        self.box = boxes.last
        self.box.scroll_into_view_if_needed()
        dropdowns = self.box.locator(".widget-dropdown").all()
        labels = [d.locator(".widget-label").inner_text().strip().lower() for d in dropdowns]
        assert len(dropdowns) >= 2, f"explorer has {len(dropdowns)} dropdowns: {labels}"

        def by_label(name: str, fallback: int):
            hits = [d for d, label in zip(dropdowns, labels, strict=True) if name in label]
            return (hits[0] if hits else dropdowns[fallback]).locator("select")

        self.module, self.branch = by_label("module", -2), by_label("branch", -1)
        self.channel = self.box.locator(".widget-slider").first

    def figure(self) -> str:
        """The image data the Output widget shows now ('' while it redraws)."""
        imgs = self.box.locator(".widget-output img")
        return imgs.first.get_attribute("src") or "" if imgs.count() == 1 else ""

    def wait_for_new_figure(self, before: str, what: str, timeout_s: float = UI_TIMEOUT_S) -> str:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            now = self.figure()
            if now and now != before:
                return now
            time.sleep(0.5)
        raise AssertionError(f"the explorer's figure did not change after {what} (waited {timeout_s:.0f} s)")

    def choose_other(self, select) -> str:
        """Pick the last option that is not the current one; return its value."""
        values = select.locator("option").evaluate_all("os => os.map(o => o.value)")
        current = select.input_value()
        other = [v for v in values if v != current]
        assert other, f"only one option: {values}"
        select.select_option(other[-1])
        return other[-1]

    def step_channel(self) -> str:
        """Press the right arrow on the slider's handle, as a keyboard reader would."""
        readout = self.channel.locator(".widget-readout")
        before = readout.inner_text().strip()
        self.channel.locator(".noUi-handle").first.focus()
        self.channel.locator(".noUi-handle").first.press("ArrowRight")
        self.channel.page.wait_for_function("([el, v]) => el.innerText.trim() !== v",
                                            arg=[readout.element_handle(), before])
        return readout.inner_text().strip()


# ----------------------------------------------------------------------------- the browser test


@pytest.fixture(scope="module")
def chromium() -> str:
    pytest.importorskip("playwright.sync_api", reason="pip package playwright is not installed")
    if not os.path.exists(CHROMIUM):
        subprocess.run(["sh", str(ROOT / "tests/setup_browser.sh")], check=False)
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is missing; run tests/setup_browser.sh as root (apt-get install -y chromium)")
    return CHROMIUM


def _notebook(prefix: str) -> Path:
    found = sorted(NOTEBOOKS.glob(f"{prefix}_*.ipynb"))
    assert len(found) == 1, f"expected one notebook {prefix}_*.ipynb in {NOTEBOOKS}, found {found}"
    return found[0]


def _run_and_check(notebook: NotebookPage, shots: Path) -> float:
    """Run all cells in quick mode; no error output, every figure drawn with a size; seconds taken."""
    seconds = notebook.run_all(RUN_TIMEOUT_S)
    errors = notebook.errors()
    assert not errors, f"{notebook.name} shows an error output:\n" + "\n".join(errors)
    figures = notebook.figures()
    assert all(f["ok"] and f["w"] > 0 and f["h"] > 0 for f in figures), (
        f"{notebook.name}: a figure did not render: {figures}")
    _save_png(notebook.page, shots / f"{notebook.name[:2]}_ran.png")
    return seconds


@pytest.mark.slow
@pytest.mark.notebook
def test_notebooks_run_and_explorer_responds_in_jupyterlab(chromium, lab_server, tmp_path):
    from playwright.sync_api import sync_playwright

    shots = tmp_path / "screenshots"
    shots.mkdir()
    timings = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.set_default_timeout(UI_TIMEOUT_S * 1000)

        # nothing leaves this machine, and no notebook is saved, renamed or created (JupyterLab's
        # checkpoint on opening a file goes to the ignored .ipynb_checkpoints/ and is let through)
        def guard(route):
            request = route.request
            if not request.url.startswith(lab_server.origin + "/"):
                return route.abort()
            writes = request.method in {"PUT", "PATCH", "DELETE"} or (
                request.method == "POST" and not request.url.split("?")[0].endswith("/checkpoints"))
            if "/api/contents" in request.url and writes:
                return route.abort()
            return route.continue_()

        page.route("**/*", guard)
        try:
            page.goto(lab_server.url)  # what a reader pastes from the terminal
            guide = NotebookPage(page, "00_reading_guide.ipynb")
            page.wait_for_timeout(1000)  # let the rendered markdown settle before the picture
            _save_png(page, shots / "00_opened.png")
            if os.environ.get("GOOGLENET_UPDATE_ASSETS") == "1":
                _save_png(page, README_SHOT, max_bytes=200_000)

            timings[guide.name] = _run_and_check(guide, shots)
            notebook = guide.open_from_file_browser(_notebook("06"))  # the menus act on the tab in front
            timings[notebook.name] = _run_and_check(notebook, shots)
            assert notebook.figures(), f"{notebook.name} shows no figure"

            explorer = Explorer(notebook)
            figure = explorer.wait_for_new_figure("", "running the cell")
            _save_png(explorer.box, shots / "06_explorer_0_start.png")
            changes = [("module", lambda: explorer.choose_other(explorer.module)),
                       ("branch", lambda: explorer.choose_other(explorer.branch)),
                       ("channel", explorer.step_channel)]
            for i, (control, change) in enumerate(changes, 1):
                value = change()
                figure = explorer.wait_for_new_figure(figure, f"setting {control} to {value}")
                assert all(f["ok"] and f["w"] > 0 and f["h"] > 0 for f in notebook.figures(explorer.box))
                _save_png(explorer.box, shots / f"06_explorer_{i}_{control}.png")
            errors = notebook.errors()
            assert not errors, "the explorer shows an error output:\n" + "\n".join(errors)
        except BaseException:
            try:
                _save_png(page, shots / "failure.png")
            except Exception:
                pass  # the failure itself is what the report needs
            print(f"screenshots: {shots}\nserver log: {lab_server.log}")
            raise
        finally:
            browser.close()
    print(f"run all cells in JupyterLab: {', '.join(f'{k} {v:.0f} s' for k, v in timings.items())}; "
          f"screenshots in {shots}")
