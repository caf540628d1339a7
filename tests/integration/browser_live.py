#!/usr/bin/python3
"""browser_live.py: does an open page show what changes on the server, without a reload?

Drives headless Chromium over the DevTools protocol on a pipe (--remote-debugging-pipe:
NUL-terminated JSON on file descriptors 3 and 4, no network port, no extra module), in
real time: loads URL, waits until <body data-loaded="LOADED">, checks that SELECTOR matches
nothing, marks the window, runs the shell command THEN, and polls the DOM for up to WITHIN
seconds until SELECTOR matches. Passes (exit 0) when it does, in the same document: the
window's mark is still there and there was one navigation. Prints the element's text (or
what went wrong) on standard error. Used by web_pages.sh.

usage: browser_live.py CHROMIUM PROFILE_DIR URL LOADED SELECTOR THEN WITHIN_S
"""
import fcntl
import json
import os
import subprocess
import sys
import time


class Cdp:
    def __init__(self, chromium, profile, log):
        # Chromium reads commands on its fd 3 and writes answers and events on its fd 4.
        # The pipes are close-on-exec; the child's copies on 3 and 4 (dup2) are not. close_fds
        # would close 3 and 4 after preexec_fn placed them: the rest closes at exec by itself.
        to_r, self.to_w = os.pipe()
        self.from_r, from_w = os.pipe()
        self.p = subprocess.Popen(
            [chromium, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--disable-extensions", "--disable-background-networking", "--hide-scrollbars",
             "--user-data-dir=" + profile, "--remote-debugging-pipe", "about:blank"],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log,
            close_fds=False, preexec_fn=lambda: self._fds(to_r, from_w))
        os.close(to_r)
        os.close(from_w)
        self.buf = b""
        self.next_id = 0
        self.session = None

    @staticmethod
    def _fds(to_r, from_w):
        # Out of the way first (10 and up), so that placing one never overwrites the other.
        r, w = fcntl.fcntl(to_r, fcntl.F_DUPFD, 10), fcntl.fcntl(from_w, fcntl.F_DUPFD, 10)
        os.dup2(r, 3)
        os.dup2(w, 4)

    def close(self):
        self.p.terminate()
        try:
            self.p.wait(10)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()

    def call(self, method, **params):
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params}
        if self.session and not method.startswith("Target."):
            msg["sessionId"] = self.session
        os.write(self.to_w, json.dumps(msg).encode() + b"\0")
        deadline = time.time() + 30
        while time.time() < deadline:
            while b"\0" in self.buf:
                raw, self.buf = self.buf.split(b"\0", 1)
                m = json.loads(raw)
                if m.get("id") == self.next_id:
                    if "error" in m:
                        raise RuntimeError("%s: %s" % (method, m["error"]))
                    return m.get("result", {})
            chunk = os.read(self.from_r, 65536)
            if not chunk:
                raise RuntimeError("chromium closed the pipe")
            self.buf += chunk
        raise RuntimeError("%s: no answer in 30 s" % method)

    def js(self, expr):
        r = self.call("Runtime.evaluate", expression=expr, returnByValue=True)
        if "exceptionDetails" in r:
            raise RuntimeError("%s: %s" % (expr, r["exceptionDetails"]))
        return r["result"].get("value")


def main():
    chromium, profile, url, loaded, selector, then, within = sys.argv[1:8]
    log = open(os.path.join(profile + ".log"), "w")
    c = Cdp(chromium, profile, log)
    try:
        page = [t for t in c.call("Target.getTargets")["targetInfos"] if t["type"] == "page"][0]
        c.session = c.call("Target.attachToTarget", targetId=page["targetId"], flatten=True)["sessionId"]
        c.call("Page.navigate", url=url)
        want = json.dumps(loaded)
        for _ in range(300):
            if c.js("document.body && document.body.dataset.loaded") == loaded:
                break
            time.sleep(0.1)
        else:
            sys.exit("browser_live: %s did not finish loading (data-loaded=%s)" % (url, want))
        sel = json.dumps(selector)
        if c.js("!!document.querySelector(%s)" % sel):
            sys.exit("browser_live: %s is there before the change" % selector)
        c.js("window.__browserLiveMark = 1")
        subprocess.run(then, shell=True, check=True)
        start = time.time()
        while time.time() - start < float(within):
            if c.js("!!document.querySelector(%s)" % sel):
                break
            time.sleep(0.25)
        else:
            # What the page fetched since the change, and what it shows: the refreshes or not.
            seen = c.js("performance.getEntriesByType('resource').filter((e) => e.startTime > %f)"
                        ".map((e) => Math.round(e.startTime) + ' ' + e.name.replace(location.origin, ''))"
                        % (c.js("performance.now()") - (time.time() - start) * 1000))
            sys.exit("browser_live: %s did not appear within %s s; fetched since the change: %s; "
                     "page: %s" % (selector, within, seen,
                                   " ".join((c.js("document.body.innerText") or "").split())[:600]))
        took = time.time() - start
        same = c.js("window.__browserLiveMark === 1 && performance.getEntriesByType('navigation').length === 1")
        if not same:
            sys.exit("browser_live: the page was reloaded")
        text = c.js("document.querySelector(%s).textContent" % sel)
        print("browser_live: %s appeared %.1f s after the change, no reload: %s"
              % (selector, took, " ".join(text.split())[:300]), file=sys.stderr)
    finally:
        c.close()
        log.close()


if __name__ == "__main__":
    main()
