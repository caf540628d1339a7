#!/usr/bin/env python3
"""docs/compose/docker-compose.yml against the Dockerfile, without a container engine.

    compose.py SOURCE_DIR

The compose file and its nfsentry.yaml must parse, and what they assume of the image must be
what the Dockerfile builds (tools/dockerfile_steps.py reads it): the configuration path of its
CMD, its data volume (WORKDIR) holding the store and dead letters, the UDP ports it EXPOSEs and
its web port published, the secret file readable by the image's group (the chown line in the
instructions names the Dockerfile's gid), and the CA file inside a mounted volume.
"""
import json
import os
import re
import subprocess
import sys

import yaml


def main():
    src = sys.argv[1]
    compose_dir = os.path.join(src, "docs", "compose")
    problems = []

    def need(cond, msg):
        if not cond:
            problems.append(msg)

    text = open(os.path.join(compose_dir, "docker-compose.yml"), encoding="utf-8").read()
    comp = yaml.safe_load(text)
    cfg = yaml.safe_load(open(os.path.join(compose_dir, "nfsentry.yaml"), encoding="utf-8"))
    steps = subprocess.run([sys.executable, os.path.join(src, "tools", "dockerfile_steps.py"),
                            os.path.join(src, "Dockerfile")], check=True, capture_output=True,
                           text=True).stdout
    rows = [l.split("\t") for l in steps.splitlines()]
    cmd = json.loads(next(r[1] for r in rows if r[0] == "CMD"))
    workdir = next(r[1] for r in rows if r[0] == "WORKDIR")
    udp = sorted(r[1].split("/")[0] for r in rows if r[0] == "EXPOSE" and r[1].endswith("/udp"))
    tcp = sorted(r[1].split("/")[0] for r in rows if r[0] == "EXPOSE" and r[1].endswith("/tcp"))
    run = next(r[1] for r in rows if r[0] == "RUN" and "useradd" in r[1])
    gid = re.search(r"groupadd [^&]*--gid (\d+)", run).group(1)

    svc = comp["services"]["nfsentry"]
    ctx = os.path.normpath(os.path.join(compose_dir, svc["build"] if isinstance(svc["build"], str)
                                        else svc["build"]["context"]))
    need(os.path.isfile(os.path.join(ctx, "Dockerfile")), f"build context {ctx} has no Dockerfile")
    cfg_path = cmd[cmd.index("-c") + 1]
    if "command" in svc:
        c = svc["command"]
        cfg_path = c[c.index("-c") + 1]
    mounts = {}
    for v in svc.get("volumes", []):
        parts = v.split(":")
        mounts[parts[1]] = parts[0]
    need(mounts.get(cfg_path) == "./nfsentry.yaml",
         f"./nfsentry.yaml is not mounted at the configuration path {cfg_path}")
    need(workdir in mounts and not mounts[workdir].startswith("."),
         f"no named volume on the image's data directory {workdir}")
    store = cfg.get("store", {}).get("path", "data/nfsentry.db")
    need(os.path.join(workdir, store).startswith(workdir + "/"),
         f"store.path {store} is not on the data volume {workdir}")
    es = cfg.get("elasticsearch", {})
    dl = es.get("dead_letter_path", "data/es-dead-letter.jsonl")
    need(os.path.join(workdir, dl).startswith(workdir + "/"),
         f"dead_letter_path {dl} is not on the data volume {workdir}")
    need(any(es.get("ca_file", "").startswith(t.rstrip("/") + "/") for t in mounts),
         f"ca_file {es.get('ca_file')} is not inside a mounted volume")
    secrets = [s if isinstance(s, str) else s["source"] for s in svc.get("secrets", [])]
    need(es.get("password_file") in ["/run/secrets/" + s for s in secrets],
         f"password_file {es.get('password_file')} is not one of the service's secrets {secrets}")
    for s in secrets:
        need(s in comp.get("secrets", {}), f"secret {s} is not defined")
    need(f"chown 1000:{gid} es-password" in text,
         f"the instructions do not give the secret to the image's group {gid} (chown 1000:{gid})")
    need("chmod 0440 es-password" in text, "the instructions do not make the secret 0440")
    published_udp = sorted(p.split(":")[-1].split("/")[0] for p in svc["ports"] if p.endswith("/udp"))
    published_tcp = sorted(p.split(":")[-1] for p in svc["ports"] if not p.endswith("/udp"))
    need(published_udp == udp, f"UDP ports published {published_udp}, the image exposes {udp}")
    need(published_tcp == tcp, f"TCP ports published {published_tcp}, the image exposes {tcp}")
    listen_ports = sorted({e.rsplit(":", 1)[1] for e in cfg.get("listen", [])})
    need(listen_ports == udp, f"nfsentry.yaml listens on {listen_ports}, the image exposes {udp}")
    doc = open(os.path.join(src, "docs", "elasticsearch.md"), encoding="utf-8").read()
    need("docker compose up -d" in doc and f"chown 1000:{gid} es-password" in doc,
         "docs/elasticsearch.md does not show how to start it (secret ownership, docker compose up)")

    for p in problems:
        print("compose: " + p)
    print(f"compose: {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
