"""Code generation on the host: turns messages.txt into api/messages.py (what a protobuf or OpenAPI generator
does for a real project)."""

from pathlib import Path

HERE = Path(__file__).resolve().parent.parent
message = (HERE / "messages.txt").read_text().strip()
code = f"# generated from messages.txt by tools/gen_messages.py\nGREETING = {message!r}\n"
(HERE / "api" / "messages.py").write_text(code)
print(f"generated api/messages.py: {message}")
