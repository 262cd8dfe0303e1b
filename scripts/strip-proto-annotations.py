#!/usr/bin/env python3
"""Copies etcd 3.4's kv.proto, auth.proto and rpc.proto into Protos/etcd/..., removing only the
gogoproto and google.api annotations (imports, file options, and the `option (google.api.http) = {...};`
blocks of rpc.proto, some of which nest `additional_bindings {}`). Everything else, including
comments, package names and field numbers, is kept byte for byte."""
import pathlib
import re
import sys

FILES = ["mvcc/mvccpb/kv.proto", "auth/authpb/auth.proto", "etcdserver/etcdserverpb/rpc.proto"]


def strip(text: str) -> str:
    out, depth = [], 0  # depth > 0: inside a google.api.http option block
    for line in text.splitlines(keepends=True):
        s = line.strip()
        if depth:
            depth += s.count("{") - s.count("}")
            continue
        if s.startswith("option (google.api.http)"):
            depth = s.count("{") - s.count("}")
            continue
        if re.match(r'import "(gogoproto/gogo|google/api/annotations)\.proto";', s):
            continue
        if s.startswith("option (gogoproto."):
            continue
        if s == "// for grpc-gateway":
            continue
        out.append(line)
    result = "".join(out)
    # An rpc whose only content was the http option keeps an empty body; write it on one line.
    result = re.sub(r"\{\n\s*\}", "{}", result)
    return re.sub(r"\n{3,}", "\n\n", result)


def main() -> None:
    src, dst = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
    for rel in FILES:
        text = strip((src / rel).read_text())
        for marker in ("gogoproto", "google.api"):
            if marker in text:
                sys.exit(f"{rel}: '{marker}' left after stripping")
        target = dst / "etcd" / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
        print(f"wrote {target}")


if __name__ == "__main__":
    main()
