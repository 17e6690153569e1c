"""Secret values are replaced by *** wherever pipe writes or prints them."""
from __future__ import annotations

MASK = "***"


class Redactor:
    def __init__(self, values=()):
        # Longest first, so a secret that contains another is masked whole.
        self.values = sorted({v for v in values if v}, key=len, reverse=True)

    def __bool__(self) -> bool:
        return bool(self.values)

    def text(self, s: str) -> str:
        for v in self.values:
            if v in s:
                s = s.replace(v, MASK)
        return s

    def value(self, obj):
        """Mask inside strings, lists and mappings (events, --json documents)."""
        if not self.values:
            return obj
        if isinstance(obj, str):
            return self.text(obj)
        if isinstance(obj, list):
            return [self.value(v) for v in obj]
        if isinstance(obj, dict):
            return {k: self.value(v) for k, v in obj.items()}
        return obj


class StreamRedactor:
    """Masks secrets in a byte stream cut into arbitrary chunks (a task's output)."""

    def __init__(self, redactor: Redactor):
        self.secrets = [v.encode() for v in redactor.values]
        self.carry = b""

    def feed(self, chunk: bytes) -> bytes:
        data = self.carry + chunk
        for s in self.secrets:
            data = data.replace(s, MASK.encode())
        # Hold back a tail that could be the start of a secret split across chunks.
        hold = 0
        for k in range(min(len(data), max((len(s) for s in self.secrets), default=1) - 1), 0, -1):
            tail = data[-k:]
            if any(s.startswith(tail) for s in self.secrets):
                hold = k
                break
        self.carry = data[len(data) - hold:] if hold else b""
        return data[:len(data) - hold] if hold else data

    def close(self) -> bytes:
        rest, self.carry = self.carry, b""
        return rest
