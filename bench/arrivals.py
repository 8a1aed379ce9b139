"""What the sending benches read from arrival times: per-second counts, the busiest 1-second window, the rate
once under way (``summarize``), and ``Wire``: the same sends as the kernel saw them leave on loopback.

fakegraph stamps a send when its own handler runs. It shares the machine's two cores with wahub and PostgreSQL,
so a stall of its event loop stamps the requests that arrived meanwhile together, and a 1-second window can
then hold more than the sender let go in any second. Meta does not share our CPU. ``Wire`` captures the first
segment of each ``POST`` to the fake's port with dumpcap or tcpdump (Debian's ``tshark`` or ``tcpdump``; root,
or the capture capability), so the window can also be counted where the issue puts it: at the wire."""

from __future__ import annotations

import shutil
import struct
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from serving import BenchError  # bench/serving.py

from fakegraph.control import busiest_window, max_in_window


def per_second(times: list[float]) -> list[int]:
    """Arrivals in each whole second from the first arrival (the last one partial)."""
    start, full = times[0], int(times[-1] - times[0])
    counts = [0] * (full + 1)
    for t in times:
        counts[int(t - start)] += 1
    return counts


def min_second(times: list[float]) -> int:
    """The fewest arrivals in any whole second after the first (the last, partial one left out)."""
    middle = per_second(times)[1:-1]
    return min(middle) if middle else len(times)


def busiest(times: list[float]) -> tuple[float, list[int]]:
    """Where the busiest 1-second window starts (seconds after the first arrival) and its arrivals per 100 ms."""
    best, at = busiest_window(times, 1.0)
    first = times[at]
    tenths = [0] * 10
    for t in times[at : at + best]:
        tenths[min(9, int((t - first) * 10))] += 1
    return first - times[0], tenths


def sustained(times: list[float]) -> float:
    """The rate once under way: arrivals between the end of the first second and the start of the last."""
    start, end = times[0] + 1.0, times[-1] - 1.0
    if end <= start:
        return (len(times) - 1) / (times[-1] - times[0])
    return sum(1 for t in times if start <= t < end) / (end - start)


@dataclass(slots=True)
class Result:
    name: str
    messages: int
    seconds: float
    msg_per_s: float
    sustained_per_s: float
    max_per_1s: int
    cpu_ms_per_1000: float
    errors: int = 0
    min_per_1s: int = 0  # the fewest in a whole second after the first (of the slowest number)
    busiest_at: float = 0.0
    busiest_tenths: list[int] | None = None
    seconds_counts: list[int] | None = None  # one number's arrivals per whole second
    wire_max_per_1s: int | None = None  # the same two, from the kernel's capture (``Wire``), when there was one
    wire_min_per_1s: int | None = None


def summarize(
    name: str, arrivals: list[float], cpu_s: float, errors: int = 0, per_number: list[list[float]] | None = None
) -> Result:
    """``per_number``: each number's own arrivals, for the windows (all arrivals are one number's otherwise)."""
    if len(arrivals) < 2:
        raise BenchError(f"{name}: the fake saw {len(arrivals)} sends")
    span = arrivals[-1] - arrivals[0]
    own = [times for times in per_number or [arrivals] if len(times) >= 2]
    at, tenths = busiest(max(own, key=lambda times: max_in_window(times, 1.0)))
    return Result(
        name=name,
        messages=len(arrivals),
        seconds=round(span, 2),
        msg_per_s=round((len(arrivals) - 1) / span, 1),
        sustained_per_s=round(sustained(arrivals), 1),
        max_per_1s=max(max_in_window(times, 1.0) for times in own),
        cpu_ms_per_1000=round(cpu_s * 1000 / len(arrivals) * 1000, 1),
        errors=errors,
        min_per_1s=min(min_second(times) for times in own),
        busiest_at=round(at, 2),
        busiest_tenths=tenths,
        seconds_counts=per_second(arrivals) if per_number is None else None,
    )


def add_wire(result: Result, sends: dict[str, list[float]]) -> None:
    """The windows of ``result`` counted again from the kernel's capture (``Wire.stop``), each number's own."""
    own = [times for times in sends.values() if len(times) >= 2]
    if own:
        result.wire_max_per_1s = max(max_in_window(times, 1.0) for times in own)
        result.wire_min_per_1s = min(min_second(times) for times in own)


# A POST's first segment to the fake's port: the TCP payload starts with "POST".
_FILTER = "tcp dst port {port} and tcp[((tcp[12:1] & 0xf0) >> 2):4] = 0x504f5354"


class Wire:
    """The ``POST``s to ``port`` on loopback, stamped by the kernel as they were sent, by phone number id (the
    request line's path). ``Wire.available()`` first: it needs dumpcap or tcpdump and the right to capture."""

    def __init__(self, port: int, pcap: Path) -> None:
        self.pcap = pcap
        self.pcap.unlink(missing_ok=True)
        ask = _FILTER.format(port=port)
        if dumpcap := shutil.which("dumpcap"):
            cmd = [dumpcap, "-q", "-P", "-i", "lo", "-f", ask, "-w", str(pcap)]
        else:
            cmd = [shutil.which("tcpdump") or "tcpdump", "-q", "-U", "-i", "lo", "-w", str(pcap), ask]
        self._proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 10
        while not (pcap.exists() and pcap.stat().st_size >= 24):  # the file's header: the capture is on
            if self._proc.poll() is not None or time.monotonic() > deadline:
                self._proc.kill()
                err = self._proc.communicate()[1].decode(errors="replace")
                raise BenchError(f"the capture did not start ({cmd[0]}): {err[-500:]}")
            time.sleep(0.05)

    @staticmethod
    def available() -> bool:
        return bool(shutil.which("dumpcap") or shutil.which("tcpdump"))

    def kill(self) -> None:
        self._proc.kill()
        self._proc.wait()
        self.pcap.unlink(missing_ok=True)

    def stop(self) -> dict[str, list[float]]:
        time.sleep(0.3)  # the last packets to the file
        self._proc.terminate()
        try:
            self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
        sends = read_pcap(self.pcap.read_bytes())
        self.pcap.unlink(missing_ok=True)
        return sends


def read_pcap(data: bytes) -> dict[str, list[float]]:
    """Classic pcap of loopback (Ethernet framing): each packet's time, by the number in its request line
    (``POST /v23.0/<number>/messages``; Twilio's ``/Accounts/<sid>/Messages.json`` counts as its sid)."""
    magic = struct.unpack_from("<I", data)[0]
    if magic not in (0xA1B2C3D4, 0xA1B23C4D):
        raise BenchError(f"not a little-endian classic pcap file (magic {magic:#x})")
    fraction = 1e-6 if magic == 0xA1B2C3D4 else 1e-9
    sends: dict[str, list[float]] = {}
    at = 24
    while at + 16 <= len(data):
        seconds, part, length, _ = struct.unpack_from("<IIII", data, at)
        packet = data[at + 16 : at + 16 + length]
        at += 16 + length
        ip = packet[14:]
        tcp = ip[(ip[0] & 0x0F) * 4 :]
        payload = tcp[(tcp[12] >> 4) * 4 :]
        path = payload.split(b" ", 2)[1].decode(errors="replace") if payload.startswith(b"POST ") else ""
        parts = path.strip("/").split("/")
        sends.setdefault(parts[-2] if len(parts) >= 2 else path, []).append(seconds + part * fraction)
    for times in sends.values():
        times.sort()
    return sends
