#!/usr/bin/python3
"""fake_es.py: a small Elasticsearch-protocol server for nfsentry's tests.

Implements what nfsentry uses, strictly: PUT _component_template/NAME and
_index_template/NAME, POST _bulk (NDJSON, per-item results, gzip request
bodies), GET _count, GET INDEX/_doc/ID, POST PATTERN/_refresh and POST
PATTERN/_delete_by_query (PATTERN: index names with * wildcards, comma
separated; the query must be a bool of "term" filters and "must_not" terms
on top-level fields, and conflicts=proceed is required, since nfsentry
deletes while it may overwrite). Every request is validated (content
type, NDJSON framing, action lines, trailing newline, templates installed
before documents, ip-typed fields hold IPs); a violation is answered 400
and recorded in protocol_errors, which the tests require to stay empty.

Test control (not Elasticsearch):
  POST /_fake/faults {"faults": ["413", "429", "500", "close", "partial", "hang"],
                      "item_429": N, "reject_nth": N, "hang_s": S,
                      "delay_ms": N, "template_status": CODE}
      faults: consumed one per _bulk request, in order ("ok" passes one);
      item_429: the next N items answer 429 inside an otherwise good bulk;
      reject_nth: the N-th item from now is refused with a mapping error;
      delay_ms: every _bulk waits this long first (slow cluster);
      template_status: answer template PUTs with this status (0 = normally);
      dbq_fail: the next N _delete_by_query requests answer 500.
  GET /_fake/state[?ids=1]  counters, protocol errors (ids: writes per _id,
      held: the _ids held per index)

Server:  fake_es.py serve --port-file F [--port N] [--state FILE] [--sink]
             [--tls-cert C --tls-key K] [--basic USER:PASS] [--api-key KEY]
  --state keeps the stored documents across restarts (saved at SIGTERM), so
  a test can take the server down and bring it back. --sink answers _bulk
  after checking only the framing and the shape of each line, keeps no
  documents (only writes per _id), for throughput benchmarks.
Client:  fake_es.py get URL PATH | fake_es.py post URL PATH JSON
Standard library only.
"""
import base64
import gzip
import ipaddress
import json
import os
import re
import signal
import ssl
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

INDEX_RE = re.compile(r'^[a-z0-9][a-z0-9._-]*$')
# Sink mode's fast path for an action line exactly as nfsentry writes it.
ACTION_RE = re.compile(rb'^\{"(index|create)":\{"_index":"([a-z0-9][a-z0-9._-]*)","_id":"((?:[^"\\]|\\.)+)"\}\}$')


class State:
    def __init__(self):
        self.lock = threading.Lock()
        self.components = {}
        self.templates = {}
        self.docs = {}  # index -> {id: source}
        self.writes = {}  # id -> times written
        self.bulk_requests = 0
        self.items = 0
        self.protocol_errors = []
        self.faults = []
        self.item_429 = 0
        self.reject_nth = 0
        self.rejected = []
        self.hang_s = 30.0
        self.delay_ms = 0
        self.template_status = 0
        self.dbq_fail = 0
        self.dbq_requests = 0
        self.deleted = 0
        self.faults_served = {}

    def save(self, path):
        with open(path + '.tmp', 'w') as f:
            json.dump({'components': self.components, 'templates': self.templates,
                       'docs': self.docs, 'writes': self.writes, 'rejected': self.rejected,
                       'protocol_errors': self.protocol_errors}, f)
        os.replace(path + '.tmp', path)

    def load(self, path):
        with open(path) as f:
            d = json.load(f)
        self.components, self.templates = d['components'], d['templates']
        self.docs, self.writes = d['docs'], d['writes']
        self.rejected, self.protocol_errors = d['rejected'], d['protocol_errors']

    def template_for(self, index):
        """The matching index template of highest priority (ES semantics, simplified)."""
        best = None
        for name, t in self.templates.items():
            for pat in t.get('index_patterns', []):
                if re.fullmatch(re.escape(pat).replace(r'\*', '.*'), index):
                    if best is None or t.get('priority', 0) > best.get('priority', 0):
                        best = t
        return best

    def ip_fields(self, t):
        props = {}
        for c in t.get('composed_of', []):
            props.update(self.components.get(c, {}).get('template', {}).get('mappings', {}).get('properties', {}))
        props.update(t.get('template', {}).get('mappings', {}).get('properties', {}))
        return [k for k, v in props.items() if v.get('type') == 'ip']


STATE = State()
ARGS = {}


def valid_ip(v):
    try:
        ipaddress.ip_address(v)
        return True
    except (ValueError, TypeError):
        return False


class BadRequest(Exception):
    pass


class Handler(BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'
    server_version = 'fake_es/1'

    def log_message(self, fmt, *args):
        if ARGS.get('verbose'):
            sys.stderr.write('fake_es: ' + (fmt % args) + '\n')

    def reply(self, status, obj, extra=None):
        body = json.dumps(obj).encode() if not isinstance(obj, bytes) else obj
        self.send_response(status)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', str(len(body)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def bad(self, reason):
        with STATE.lock:
            STATE.protocol_errors.append('%s %s: %s' % (self.command, self.path, reason))
        self.reply(400, {'error': {'type': 'illegal_argument_exception', 'reason': reason},
                         'status': 400})

    def read_body(self):
        n = self.headers.get('Content-Length')
        if self.headers.get('Transfer-Encoding'):
            raise BadRequest('chunked bodies are not expected from nfsentry')
        if n is None:
            return b''
        body = self.rfile.read(int(n))
        enc = self.headers.get('Content-Encoding')
        if enc == 'gzip':
            try:
                body = gzip.decompress(body)
            except OSError as e:
                raise BadRequest('bad gzip body: %s' % e)
        elif enc:
            raise BadRequest('unknown Content-Encoding %s' % enc)
        return body

    def authorised(self):
        want = ARGS.get('auth')
        if not want:
            return True
        if self.headers.get('Authorization') == want:
            return True
        self.read_body_quiet()
        self.reply(401, {'error': {'type': 'security_exception', 'reason': 'missing authentication credentials'},
                         'status': 401}, {'WWW-Authenticate': 'Basic realm="security"'})
        return False

    def read_body_quiet(self):
        try:
            self.read_body()
        except BadRequest:
            pass

    # ---- routes -------------------------------------------------------

    def do_GET(self):
        if not self.authorised():
            return
        path, _, query = self.path.partition('?')
        if path == '/':
            return self.reply(200, {'name': 'fake', 'version': {'number': '8.11.0'},
                                    'tagline': 'You Know, for Search'})
        if path == '/_fake/state':
            with STATE.lock:
                s = {'docs': sum(len(v) for v in STATE.docs.values()),
                     'indices': {k: len(v) for k, v in STATE.docs.items()},
                     'bulk_requests': STATE.bulk_requests, 'items': STATE.items,
                     'protocol_errors': STATE.protocol_errors,
                     'components': sorted(STATE.components), 'templates': sorted(STATE.templates),
                     'rejected': STATE.rejected, 'faults_served': STATE.faults_served,
                     'faults_left': STATE.faults, 'dbq_requests': STATE.dbq_requests,
                     'deleted': STATE.deleted, 'dbq_fail_left': STATE.dbq_fail,
                     'max_writes': max(STATE.writes.values(), default=0)}
                if 'ids=1' in query:
                    s['ids'] = STATE.writes
                    s['held'] = {k: sorted(v) for k, v in STATE.docs.items()}
            return self.reply(200, s)
        if path == '/_count':
            with STATE.lock:
                return self.reply(200, {'count': sum(len(v) for v in STATE.docs.values())})
        m = re.fullmatch(r'/([^/]+)/_doc/(.+)', path)
        if m:
            from urllib.parse import unquote
            index, did = m.group(1), unquote(m.group(2))
            with STATE.lock:
                src = STATE.docs.get(index, {}).get(did)
            if src is None:
                return self.reply(404, {'_index': index, '_id': did, 'found': False})
            return self.reply(200, {'_index': index, '_id': did, 'found': True, '_source': src})
        m = re.fullmatch(r'/_(index|component)_template/([^/]+)', path)
        if m:
            with STATE.lock:
                t = (STATE.templates if m.group(1) == 'index' else STATE.components).get(m.group(2))
            if t is None:
                return self.reply(404, {'error': 'not found', 'status': 404})
            return self.reply(200, {m.group(1) + '_templates': [{'name': m.group(2), m.group(1) + '_template': t}]})
        self.reply(404, {'error': 'no route %s' % path, 'status': 404})

    def do_PUT(self):
        if not self.authorised():
            return
        try:
            body = self.read_body()
        except BadRequest as e:
            return self.bad(str(e))
        m = re.fullmatch(r'/_(index|component)_template/([a-z0-9][a-z0-9._-]*)', self.path)
        if not m:
            return self.bad('no PUT route %s' % self.path)
        if self.headers.get('Content-Type', '').split(';')[0].strip() != 'application/json':
            return self.bad('Content-Type %r is not application/json' % self.headers.get('Content-Type'))
        with STATE.lock:
            ts = STATE.template_status
        if ts:
            return self.reply(ts, {'error': {'type': 'fake_refusal', 'reason': 'told to refuse templates'},
                                   'status': ts})
        try:
            t = json.loads(body)
        except ValueError as e:
            return self.bad('template is not JSON: %s' % e)
        if not isinstance(t, dict):
            return self.bad('template is not an object')
        with STATE.lock:
            if m.group(1) == 'component':
                if 'template' not in t:
                    return self.bad('component template without "template"')
                STATE.components[m.group(2)] = t
            else:
                pats = t.get('index_patterns')
                if not isinstance(pats, list) or not pats:
                    return self.bad('index template without index_patterns')
                missing = [c for c in t.get('composed_of', []) if c not in STATE.components]
                if missing:
                    return self.bad('index template [%s] specifies component templates %s that do not exist'
                                    % (m.group(2), missing))
                STATE.templates[m.group(2)] = t
        self.reply(200, {'acknowledged': True})

    def do_POST(self):
        if not self.authorised():
            return
        try:
            body = self.read_body()
        except BadRequest as e:
            return self.bad(str(e))
        if self.path == '/_fake/faults':
            f = json.loads(body)
            with STATE.lock:
                STATE.faults.extend(f.get('faults', []))
                STATE.item_429 += f.get('item_429', 0)
                if f.get('reject_nth'):
                    STATE.reject_nth = STATE.items + f['reject_nth']
                for k in ('hang_s', 'delay_ms', 'template_status', 'dbq_fail'):
                    if k in f:
                        setattr(STATE, k, f[k])
            return self.reply(200, {'acknowledged': True})
        m = re.fullmatch(r'/([^/?]+)/_(refresh|delete_by_query)(?:\?(.*))?', self.path)
        if m:
            return self.by_query(m.group(1), m.group(2), m.group(3) or '', body)
        if self.path != '/_bulk':
            return self.bad('no POST route %s' % self.path)
        ct = self.headers.get('Content-Type', '').split(';')[0].strip()
        if ct != 'application/x-ndjson':
            return self.bad('_bulk Content-Type %r is not application/x-ndjson' % self.headers.get('Content-Type'))
        try:
            pairs = self.parse_bulk(body)
        except BadRequest as e:
            return self.bad(str(e))
        with STATE.lock:
            STATE.bulk_requests += 1
            fault = STATE.faults.pop(0) if STATE.faults else 'ok'
            STATE.faults_served[fault] = STATE.faults_served.get(fault, 0) + 1
            delay, hang = STATE.delay_ms, STATE.hang_s
        if delay:
            time.sleep(delay / 1000.0)
        if fault in ('413', '429', '500', '503'):
            st = int(fault)
            return self.reply(st, {'error': {'type': 'es_rejected_execution_exception' if st == 429 else 'fake_failure',
                                             'reason': 'told to answer %d' % st}, 'status': st})
        if fault == 'close':
            self.close_connection = True
            self.connection.shutdown(2)
            return
        if fault == 'hang':
            time.sleep(hang)
            self.close_connection = True
            return
        if ARGS.get('sink'):
            return self.sink_reply(pairs)
        items, errors = [], False
        with STATE.lock:
            for action, meta, src in pairs:
                STATE.items += 1
                index, did = meta['_index'], meta['_id']
                res = {'_index': index, '_id': did}
                t = STATE.template_for(index)
                bad_ip = None
                if t is None:
                    STATE.protocol_errors.append('document %s for index %s before any matching template' % (did, index))
                else:
                    for fld in STATE.ip_fields(t):
                        v = src.get(fld)
                        vals = v if isinstance(v, list) else ([] if v is None else [v])
                        for x in vals:
                            if not valid_ip(x):
                                bad_ip = (fld, x)
                # A mapping error is deterministic: once refused, an _id is always refused.
                if (STATE.reject_nth and STATE.items == STATE.reject_nth) or did in STATE.rejected:
                    bad_ip = ('ip', 'told-to-reject')
                if bad_ip:
                    if did not in STATE.rejected:
                        STATE.rejected.append(did)
                    res.update(status=400, error={
                        'type': 'mapper_parsing_exception',
                        'reason': "failed to parse field [%s] of type [ip] in document with id '%s'. "
                                  "Preview of field's value: '%s'" % (bad_ip[0], did, bad_ip[1])})
                    errors = True
                elif STATE.item_429 > 0:
                    STATE.item_429 -= 1
                    res.update(status=429, error={'type': 'es_rejected_execution_exception',
                                                  'reason': 'told to reject this item with 429'})
                    errors = True
                else:
                    docs = STATE.docs.setdefault(index, {})
                    if action == 'create' and did in docs:
                        res.update(status=409, error={'type': 'version_conflict_engine_exception',
                                                      'reason': '[%s]: version conflict, document already exists' % did})
                        errors = True
                    else:
                        res.update(status=200 if did in docs else 201,
                                   result='updated' if did in docs else 'created')
                        docs[did] = src
                        STATE.writes[did] = STATE.writes.get(did, 0) + 1
                items.append({action: res})
        out = json.dumps({'took': 1, 'errors': errors, 'items': items}).encode()
        if fault == 'partial':
            # Headers and half the body, then the connection drops.
            self.send_response(200)
            self.send_header('Content-Type', 'application/json')
            self.send_header('Content-Length', str(len(out)))
            self.end_headers()
            self.wfile.write(out[:len(out) // 2])
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(2)
            return
        self.reply(200, out)

    def sink_reply(self, pairs):
        # pairs hold (action, index, raw JSON _id): echoed back as they came.
        with STATE.lock:
            STATE.items += len(pairs)
            for _, _, rid in pairs:
                STATE.writes[rid] = STATE.writes.get(rid, 0) + 1
        parts = [b'{"%s":{"_index":"%s","_id":"%s","status":201,"result":"created"}}' % p for p in pairs]
        self.reply(200, b'{"took":1,"errors":false,"items":[' + b','.join(parts) + b']}')

    def by_query(self, pattern, action, query, body):
        import fnmatch
        from urllib.parse import parse_qs
        params = {k: v[-1] for k, v in parse_qs(query, keep_blank_values=True).items()}
        pats = pattern.split(',')
        if not all(re.fullmatch(r'[a-z0-9*][a-z0-9._*-]*', p) for p in pats):
            return self.bad('bad index pattern %r' % pattern)
        if action == 'refresh':
            if body:
                return self.bad('_refresh with a body')
            return self.reply(200, {'_shards': {'total': 1, 'successful': 1, 'failed': 0}})
        if self.headers.get('Content-Type', '').split(';')[0].strip() != 'application/json':
            return self.bad('_delete_by_query Content-Type is not application/json')
        if params.get('conflicts') != 'proceed':
            return self.bad('_delete_by_query without conflicts=proceed')
        try:
            q = json.loads(body)
            b = q['query']['bool']
            if set(q) != {'query'} or set(q['query']) != {'bool'} or not set(b) <= {'filter', 'must_not'}:
                raise ValueError('only query.bool.filter/must_not')

            def terms(lst):
                out = []
                for t in lst:
                    (field, value), = t['term'].items()
                    if set(t) != {'term'} or isinstance(value, (dict, list)):
                        raise ValueError('only term queries')
                    out.append((field, value))
                return out
            must, must_not = terms(b.get('filter', [])), terms(b.get('must_not', []))
            if not must:
                raise ValueError('no filter: would delete every document')
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            return self.bad('_delete_by_query body: %s' % e)
        with STATE.lock:
            STATE.dbq_requests += 1
            if STATE.dbq_fail > 0:
                STATE.dbq_fail -= 1
                return self.reply(500, {'error': {'type': 'fake_failure', 'reason': 'told to fail'},
                                        'status': 500})
            n = 0
            for index, docs in STATE.docs.items():
                if not any(fnmatch.fnmatchcase(index, p) for p in pats):
                    continue
                for did in [d for d, src in docs.items()
                            if all(src.get(f) == v for f, v in must)
                            and not any(src.get(f) == v for f, v in must_not)]:
                    del docs[did]
                    n += 1
            STATE.deleted += n
        self.reply(200, {'took': 1, 'timed_out': False, 'total': n, 'deleted': n,
                         'version_conflicts': 0, 'failures': []})

    def parse_bulk(self, body):
        if not body:
            raise BadRequest('empty _bulk body')
        if not body.endswith(b'\n'):
            raise BadRequest('_bulk body does not end with a newline')
        lines = body[:-1].split(b'\n')
        if len(lines) % 2:
            raise BadRequest('_bulk body has %d lines: an action without its document' % len(lines))
        pairs = []
        sink = ARGS.get('sink')
        for i in range(0, len(lines), 2):
            if sink:
                m = ACTION_RE.match(lines[i])
                src_line = lines[i + 1]
                if not m or not (src_line.startswith(b'{') and src_line.endswith(b'}')):
                    raise BadRequest('line %d: not an action line and a document as nfsentry writes them' % (i + 1))
                pairs.append(m.groups())
                continue
            try:
                a = json.loads(lines[i])
            except ValueError as e:
                raise BadRequest('line %d: action is not JSON: %s' % (i + 1, e))
            if not isinstance(a, dict) or len(a) != 1:
                raise BadRequest('line %d: action is not an object with one key' % (i + 1))
            action, meta = next(iter(a.items()))
            if action not in ('index', 'create'):
                raise BadRequest('line %d: action %r is not index or create' % (i + 1, action))
            if not isinstance(meta, dict) or set(meta) != {'_index', '_id'}:
                raise BadRequest('line %d: action needs exactly _index and _id, got %s' % (i + 1, sorted(meta)))
            if not isinstance(meta['_index'], str) or not INDEX_RE.match(meta['_index']) or len(meta['_index']) > 255:
                raise BadRequest('line %d: bad index name %r' % (i + 1, meta['_index']))
            if not isinstance(meta['_id'], str) or not meta['_id'] or len(meta['_id'].encode()) > 512:
                raise BadRequest('line %d: bad _id %r' % (i + 1, meta['_id']))
            try:
                src = json.loads(lines[i + 1])
            except ValueError as e:
                raise BadRequest('line %d: document is not JSON: %s' % (i + 2, e))
            if not isinstance(src, dict):
                raise BadRequest('line %d: document is not an object' % (i + 2))
            pairs.append((action, meta, src))
        return pairs


def serve(argv):
    import argparse
    p = argparse.ArgumentParser(prog='fake_es.py serve')
    p.add_argument('--port', type=int, default=0)
    p.add_argument('--bind', default='127.0.0.1')
    p.add_argument('--port-file', required=True)
    p.add_argument('--state')
    p.add_argument('--sink', action='store_true')
    p.add_argument('--tls-cert')
    p.add_argument('--tls-key')
    p.add_argument('--basic')
    p.add_argument('--api-key')
    p.add_argument('--verbose', action='store_true')
    a = p.parse_args(argv)
    ARGS['sink'] = a.sink
    ARGS['verbose'] = a.verbose
    if a.basic:
        ARGS['auth'] = 'Basic ' + base64.b64encode(a.basic.encode()).decode()
    if a.api_key:
        ARGS['auth'] = 'ApiKey ' + a.api_key
    if a.state and os.path.exists(a.state):
        STATE.load(a.state)
    ThreadingHTTPServer.allow_reuse_address = True
    ThreadingHTTPServer.daemon_threads = True
    srv = ThreadingHTTPServer((a.bind, a.port), Handler)
    if a.tls_cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(a.tls_cert, a.tls_key)
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)

    def stop(signum, frame):
        threading.Thread(target=srv.shutdown, daemon=True).start()
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    with open(a.port_file + '.tmp', 'w') as f:
        f.write('%d\n' % srv.server_address[1])
    os.replace(a.port_file + '.tmp', a.port_file)
    srv.serve_forever()
    srv.server_close()
    if a.state:
        with STATE.lock:
            STATE.save(a.state)


def client(argv):
    method, url, path = argv[0], argv[1], argv[2]
    data = argv[3].encode() if len(argv) > 3 else None
    req = urllib.request.Request(url + path, data=data, method=method.upper(),
                                 headers={'Content-Type': 'application/json'})
    with urllib.request.urlopen(req, timeout=10) as r:
        sys.stdout.write(r.read().decode() + '\n')


if __name__ == '__main__':
    if len(sys.argv) > 1 and sys.argv[1] == 'serve':
        serve(sys.argv[2:])
    elif len(sys.argv) > 3 and sys.argv[1] in ('get', 'post'):
        client(sys.argv[1:])
    else:
        sys.exit(__doc__)
