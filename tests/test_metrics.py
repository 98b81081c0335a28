"""``--metrics FILE``: the Prometheus text exposition format (checked by hand, strictly,
and by prometheus_client's parser when it is installed), written atomically (a reader
polling in a thread never sees part of a file), removed on stop only while it is ours."""

from __future__ import annotations

import asyncio
import math
import os
import re
import stat
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest

from bridge.metrics import MetricsSettings, MetricsWriter, render, write_atomically
from bridge.status import BridgeState, Counters, Phase, RegistrationStatus
from netstack.errors import UsageError
from test_status import up_state

_NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
_LABEL = r'[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*"'
_SAMPLE = re.compile(rf"({_NAME})(\{{{_LABEL}(?:,{_LABEL})*\}})? (\S+)")
_LABELS = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"')


def parse_strictly(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """The samples of ``text``, checking the text format 0.0.4 on the way: HELP then TYPE
    before a family's samples, each family once, sample names of their family, counters
    ending in _total, label syntax and escapes, float values, no duplicate sample."""
    assert text.endswith("\n") and "\n\n" not in text
    samples: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
    families: set[str] = set()
    family = kind = None
    lines = text.splitlines()
    for number, line in enumerate(lines):
        if line.startswith("# HELP "):
            name = line.split(" ")[2]
            assert re.fullmatch(_NAME, name) and name not in families, line
            assert lines[number + 1].startswith(f"# TYPE {name} "), "HELP without its TYPE"
            families.add(name)
            family = name
        elif line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            assert name == family and kind in ("gauge", "counter"), line
            assert kind != "counter" or name.endswith("_total"), line
        else:
            match = _SAMPLE.fullmatch(line)
            assert match is not None, f"not a sample line: {line!r}"
            name, labels, value = match.groups()
            assert name == family, f"{name} outside its family {family}"
            pairs = frozenset(_LABELS.findall(labels or ""))
            assert (name, pairs) not in samples, f"duplicate {line}"
            number_value = float(value)  # Prometheus' +Inf/-Inf/NaN parse too
            assert kind != "counter" or number_value >= 0
            samples[(name, pairs)] = number_value
    return samples


def value(samples: dict, name: str, **labels: str) -> float:  # type: ignore[type-arg]
    matches = [v for (n, pairs), v in samples.items() if n == name and set(labels.items()) <= pairs]
    assert len(matches) == 1, (name, labels, matches)
    return matches[0]


def test_the_state_renders_as_strict_text_format() -> None:
    samples = parse_strictly(render(up_state()))
    assert value(samples, "pppbridge_up", bridge="pppbridge0") == 1
    assert value(samples, "pppbridge_phase", phase="up") == 1
    assert value(samples, "pppbridge_phase", phase="starting") == 0
    assert value(samples, "pppbridge_link_uptime_seconds") == 60
    assert value(samples, "pppbridge_start_time_seconds") == 1_700_000_000
    assert value(samples, "pppbridge_receive_bytes_total") == 1200
    assert value(samples, "pppbridge_transmit_bytes_total") == 300
    assert value(samples, "pppbridge_receive_packets_total") == 12
    assert value(samples, "pppbridge_drops_total", reason="bad_fcs") == 2
    assert value(samples, "pppbridge_drops_total", reason="tun_refused") == 1
    assert value(samples, "pppbridge_roaming") == 1 and value(samples, "pppbridge_registered") == 1
    assert value(samples, "pppbridge_registration_info", technology="LTE-M", state="roaming") == 1
    assert value(samples, "pppbridge_signal_rsrq_db") == -10.5
    assert value(samples, "pppbridge_info", profile="sequans", edition="LTE-M") == 1
    assert not [n for n, _ in samples if n == "pppbridge_signal_sinr_db"]  # not given
    assert all(("bridge", "pppbridge0") in pairs for _, pairs in samples)


def test_label_values_are_escaped() -> None:
    state = up_state()
    odd = 'Op "quoted" \\ back\nslash'
    state = replace(state, registration=RegistrationStatus("home", None, odd))
    text = render(state)
    assert 'operator="Op \\"quoted\\" \\\\ back\\nslash"' in text
    parse_strictly(text)


def test_a_bridge_that_knows_nothing_yet_renders_too() -> None:
    state = up_state()
    bare = replace(
        state,
        phase=Phase.STARTING,
        registration=None,
        signal=None,
        counters=Counters(),
        link_uptime_seconds=None,
    )
    samples = parse_strictly(render(bare))
    assert (
        value(samples, "pppbridge_up") == 0 and value(samples, "pppbridge_link_uptime_seconds") == 0
    )
    assert not [n for n, _ in samples if n.startswith(("pppbridge_registered", "pppbridge_drops"))]


def test_prometheus_client_reads_it_when_installed() -> None:
    parser = pytest.importorskip("prometheus_client.parser")
    text = render(up_state())
    read = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in parser.text_string_to_metric_families(text)
        for s in family.samples
    }
    strict = {(n, tuple(sorted(p))): v for (n, p), v in parse_strictly(text).items()}
    assert read == strict
    kinds = {f.name: f.type for f in parser.text_string_to_metric_families(text)}
    assert kinds["pppbridge_receive_bytes"] == "counter" and kinds["pppbridge_up"] == "gauge"


# ------------------------------------------------------------------- the file
def test_a_reader_never_sees_part_of_a_file(tmp_path: Path) -> None:
    path = tmp_path / "pppbridge.prom"
    base = up_state()
    texts = [render(variant(base, n)) for n in range(40)]  # sizes differ from one to the next
    assert len({len(t) for t in texts}) > 1
    write_atomically(str(path), texts[0])
    seen: list[str] = []
    done = threading.Event()
    failures: list[BaseException] = []

    def poll() -> None:
        try:
            while not done.is_set():
                seen.append(path.read_text())
        except BaseException as exc:  # e.g. FileNotFoundError: the path was missing once
            failures.append(exc)

    reader = threading.Thread(target=poll)
    reader.start()
    try:
        for round_ in range(2000):
            write_atomically(str(path), texts[round_ % len(texts)])
    finally:
        done.set()
        reader.join(timeout=10)
    assert not reader.is_alive() and not failures
    assert len(seen) > 100, "the reader hardly ran"
    assert set(seen) <= set(texts), "a reader saw a file that was never written whole"
    assert [p.name for p in tmp_path.iterdir()] == ["pppbridge.prom"]  # no temporary left


def variant(state: BridgeState, n: int) -> BridgeState:
    drops = {f"reason_{i}": i for i in range(n % 7)}
    return replace(state, reconnects=n, counters=replace(state.counters, drops=drops))


def test_the_file_is_0644_whatever_the_umask_and_temporaries_are_not_prom(tmp_path: Path) -> None:
    path = tmp_path / "x.prom"
    old = os.umask(0o077)
    try:
        write_atomically(str(path), "a 1\n")
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert path.read_text() == "a 1\n"


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    path = tmp_path / "x.prom"
    write_atomically(str(path), "old 1\n")
    with pytest.raises(UnicodeEncodeError):
        write_atomically(str(path), "bad \udcff\n")
    assert path.read_text() == "old 1\n"
    assert [p.name for p in tmp_path.iterdir()] == ["x.prom"]


# ----------------------------------------------------------------- the writer
def test_the_writer_writes_at_once_then_every_interval_and_removes_its_file(
    tmp_path: Path,
) -> None:
    path = tmp_path / "bridge.prom"
    rounds = iter(range(1000))

    def snapshot() -> BridgeState:
        return variant(up_state(), next(rounds))

    async def scenario() -> None:
        writer = MetricsWriter(MetricsSettings(str(path), interval=1), snapshot)
        writer.start()
        first = path.read_text()
        assert "pppbridge_reconnects_total" in first
        deadline = time.monotonic() + 10
        while path.read_text() == first:  # bounded wait for the next period's write
            assert time.monotonic() < deadline, "no second write within 10 s"
            await asyncio.sleep(0.05)
        await writer.stop()
        assert not path.exists()

    asyncio.run(asyncio.wait_for(scenario(), 20))


def test_stop_leaves_a_file_that_is_not_ours(tmp_path: Path) -> None:
    path = tmp_path / "bridge.prom"

    async def scenario() -> None:
        writer = MetricsWriter(MetricsSettings(str(path), interval=60), up_state)
        writer.start()
        replacement = tmp_path / "other"
        replacement.write_text("someone else's\n")
        os.replace(replacement, path)
        await writer.stop()

    asyncio.run(scenario())
    assert path.read_text() == "someone else's\n"


def test_a_write_that_fails_later_is_said_once_and_the_bridge_goes_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    directory = tmp_path / "textfile"
    directory.mkdir()
    writer = MetricsWriter(MetricsSettings(str(directory / "b.prom")), up_state)
    writer.write()
    directory.joinpath("b.prom").unlink()
    directory.rmdir()  # the collector's directory went away
    with caplog.at_level("WARNING", logger="pppbridge"):
        writer._write_or_warn()
        writer._write_or_warn()
        directory.mkdir()
        writer._write_or_warn()
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 2 and "No such file or directory" in messages[0]
    assert messages[1].startswith("writing --metrics")


def test_a_file_that_cannot_be_written_is_a_usage_error_at_start(tmp_path: Path) -> None:
    directory = tmp_path / "textfile"
    directory.mkdir()
    settings = MetricsSettings(str(directory / "b.prom"))
    directory.rmdir()  # gone between the check and the first write

    async def scenario() -> None:
        with pytest.raises(UsageError, match=r"^--metrics .*b\.prom: No such file or directory$"):
            MetricsWriter(settings, up_state).start()

    asyncio.run(scenario())


@pytest.mark.parametrize(
    ("path", "interval", "message"),
    [
        ("{tmp}/x.prom", 0.5, "from 1 to 3600"),
        ("{tmp}/x.prom", math.nan, "from 1 to 3600"),
        ("{tmp}/x.prom", True, "a number of seconds"),
        ("{tmp}/missing/x.prom", 15, "no such directory"),
        ("{tmp}", 15, "is a directory"),
    ],
)
def test_settings_are_checked_once(
    tmp_path: Path, path: str, interval: float, message: str
) -> None:
    with pytest.raises(UsageError, match=message):
        MetricsSettings(path.format(tmp=tmp_path), interval)


def test_a_file_that_is_not_this_bridges_metrics_is_never_replaced(tmp_path: Path) -> None:
    """A mistyped --metrics path (someone's file) is refused, kept as it was."""
    theirs = tmp_path / "hostname"
    theirs.write_text("gateway-7\n")
    writer = MetricsWriter(MetricsSettings(str(theirs)), up_state)
    with pytest.raises(UsageError, match="never replaced"):
        writer.start()
    assert theirs.read_text() == "gateway-7\n"
