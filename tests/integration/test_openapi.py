"""api/openapi.json against the daemon: every route documented and nothing
more, the served copy is the checked-in one, request bodies declare exactly
the fields the handlers accept, and answers have the documented shapes."""
import http.client
import json
import os
import re
import subprocess
import unittest
import uuid

from sanpool import MiB, ROOT, SANPOOLD, DaemonTest

DOC_PATH = os.path.join(ROOT, "api", "openapi.json")
METHODS = ("get", "put", "post", "delete", "patch", "head", "options")
UNKNOWN = "sanpool_unknown_field"


def load_doc():
    with open(DOC_PATH, "rb") as f:
        return json.loads(f.read())


def daemon_routes():
    out = subprocess.run([SANPOOLD, "--list-routes"], check=True, capture_output=True, text=True).stdout
    routes = set()
    for line in out.splitlines():
        if line.strip():
            method, pattern = line.split()
            routes.add((method.upper(), pattern))
    return routes


def doc_routes(doc):
    return {(m.upper(), p) for p, item in doc["paths"].items() for m in item if m in METHODS}


def operations(doc):
    for p, item in doc["paths"].items():
        for m, op in item.items():
            if m in METHODS:
                yield m.upper(), p, op


def resolve(doc, node):
    while isinstance(node, dict) and "$ref" in node:
        parts = node["$ref"].lstrip("#/").split("/")
        node = doc
        for part in parts:
            node = node[part]
    return node


def body_schema(doc, op):
    rb = op.get("requestBody")
    if rb is None:
        return None
    return resolve(doc, resolve(doc, rb)["content"]["application/json"]["schema"])


def validate(doc, schema, value, where="$"):
    """A small validator for what the document uses; returns a list of problems."""
    schema = resolve(doc, schema)
    if value is None:
        return [] if schema.get("nullable") or "type" not in schema else ["%s: null" % where]
    t = schema.get("type")
    kinds = {"object": dict, "array": list, "string": str, "boolean": bool}
    if t == "integer":
        if not isinstance(value, int) or isinstance(value, bool):
            return ["%s: %r is not an integer" % (where, value)]
    elif t in kinds and not isinstance(value, kinds[t]):
        return ["%s: %r is not %s" % (where, value, t)]
    errs = []
    if "enum" in schema and value not in schema["enum"]:
        errs.append("%s: %r not in %s" % (where, value, schema["enum"]))
    if "pattern" in schema and isinstance(value, str) and not re.search(schema["pattern"], value):
        errs.append("%s: %r does not match %s" % (where, value, schema["pattern"]))
    if t == "object":
        for k in schema.get("required", []):
            if k not in value:
                errs.append("%s: lacks %s" % (where, k))
        props = schema.get("properties", {})
        for k, v in value.items():
            if k in props:
                errs += validate(doc, props[k], v, "%s.%s" % (where, k))
            elif schema.get("additionalProperties") is False or props:
                errs.append("%s: undocumented member %s" % (where, k))
    if t == "array":
        for i, v in enumerate(value):
            errs += validate(doc, schema.get("items", {}), v, "%s[%d]" % (where, i))
    return errs


def fill(pattern, bad=None):
    """The pattern with a UUID in each {param}, or "not-a-uuid" in param bad."""
    return re.sub(r"\{(\w+)\}", lambda m: "not-a-uuid" if m.group(1) == bad else str(uuid.uuid4()), pattern)


def sample(doc, schema):
    """A valid value for a property schema."""
    schema = resolve(doc, schema)
    if "enum" in schema:
        return schema["enum"][0]
    if schema.get("type") == "integer":
        return schema.get("minimum", 1)
    if schema.get("type") == "boolean":
        return False
    if schema.get("format") == "uuid":
        return str(uuid.uuid4())
    if schema.get("pattern") == "^/":
        return "/nonexistent/sanpool-openapi-test"
    return "name1"


def wrong(doc, schema):
    """A value of the wrong JSON type for a property schema."""
    return "not-a-number" if resolve(doc, schema).get("type") == "integer" else 12345


class StaticTest(unittest.TestCase):
    """The document against the daemon's route list and handler sources."""

    def setUp(self):
        self.doc = load_doc()

    def test_document_is_openapi3(self):
        self.assertTrue(self.doc["openapi"].startswith("3."))
        self.assertIn("title", self.doc["info"])

    def test_every_route_documented_and_no_more(self):
        daemon, doc = daemon_routes(), doc_routes(self.doc)
        self.assertGreater(len(daemon), 10)
        self.assertEqual(sorted(daemon - doc), [], "routes of sanpoold missing from api/openapi.json")
        self.assertEqual(sorted(doc - daemon), [], "routes in api/openapi.json that sanpoold lacks")

    def test_path_parameters_declared_as_uuids(self):
        for method, path, op in operations(self.doc):
            names = re.findall(r"\{(\w+)\}", path)
            params = [resolve(self.doc, p) for p in op.get("parameters", [])]
            declared = [p["name"] for p in params if p["in"] == "path"]
            self.assertEqual(declared, names, "%s %s" % (method, path))
            for p in params:
                if p["in"] == "path":
                    self.assertTrue(p["required"])
                    self.assertEqual(resolve(self.doc, p["schema"]).get("format"), "uuid", p)

    def test_responses_documented(self):
        for method, path, op in operations(self.doc):
            codes = set(op["responses"])
            # a POST that creates answers 201 or 202; one that acts on what exists (attach, SPM start) 200
            ok = {"GET": {"200"}, "DELETE": {"202"}}.get(method, {"200", "201", "202"})
            self.assertTrue(codes & ok, "%s %s has no success answer" % (method, path))
            for c in ("405", "500") + (("400",) if "{" in path or method != "GET" else ()):
                self.assertIn(c, codes, "%s %s lacks %s" % (method, path, c))
            for c, r in op["responses"].items():
                r = resolve(self.doc, r)
                # /metrics answers in Prometheus' text format; every other answer is JSON
                media = "text/plain" if (path, c) == ("/metrics", "200") else "application/json"
                self.assertIn(media, r.get("content", {}), "%s %s %s" % (method, path, c))
                if c >= "400":
                    self.assertEqual(resolve(self.doc, r["content"]["application/json"]["schema"]),
                                     self.doc["components"]["schemas"]["Error"])
            if method in ("POST", "DELETE"):
                self.assertIn("413", codes, "%s %s" % (method, path))

    def test_bodies_match_handler_sources(self):
        """Each handler's field_spec in api/route_*.c against the documented body."""
        types = {"FIELD_STRING": "string", "FIELD_INT": "integer", "FIELD_BOOL": "boolean",
                 "FIELD_UUID": "string", "FIELD_NAME": "string", "FIELD_STRING_ARRAY": "array"}
        specs, routes = {}, {}
        for name in sorted(os.listdir(os.path.join(ROOT, "api"))):
            if not (name.startswith("route_") and name.endswith(".c")):
                continue
            with open(os.path.join(ROOT, "api", name)) as f:
                src = f.read()
            macros = dict(re.findall(r'#define\s+(\w+)\s+("[^"]*")', src))
            for fn, body in re.findall(r"\nstatic void (\w+)\(const struct request \*req, struct response \*res\)\n\{(.*?)\n\}",
                                       src, re.S):
                m = re.search(r"field_spec spec\[\] = \{(.*?)\};", body, re.S)
                if m:
                    specs[fn] = {f: (types[t], req == "true")
                                 for f, t, req in re.findall(r'\{\s*"(\w+)",\s*(FIELD_\w+),\s*(true|false)\s*\}', m.group(1))}
                elif "body_check(req->body, NULL, 0)" in body:
                    specs[fn] = {}
            for method, pat, fn in re.findall(r'\{\s*"([A-Z]+)",\s*((?:"[^"]*"|\w+)(?:\s+(?:"[^"]*"|\w+))*),\s*(\w+)\s*(?:,\s*\.\w+\s*=\s*\w+\s*)*\}', src):
                pat = "".join(json.loads(macros[p]) if p in macros else json.loads(p) for p in re.findall(r'\w+|"[^"]*"', pat))
                routes[(method, pat)] = fn
        self.assertEqual(set(routes), daemon_routes())
        for (method, pat), fn in sorted(routes.items()):
            op = self.doc["paths"][pat][method.lower()]
            schema = body_schema(self.doc, op)
            if fn not in specs:
                self.assertIsNone(schema, "%s %s documents a body its handler ignores" % (method, pat))
                continue
            self.assertIsNotNone(schema, "%s %s: body undocumented" % (method, pat))
            self.assertIs(schema.get("additionalProperties"), False, pat)
            props = schema.get("properties", {})
            self.assertEqual(sorted(props), sorted(specs[fn]), "%s %s fields" % (method, pat))
            self.assertEqual(sorted(schema.get("required", [])), sorted(f for f, (t, r) in specs[fn].items() if r),
                             "%s %s required" % (method, pat))
            for f, (t, r) in specs[fn].items():
                self.assertEqual(resolve(self.doc, props[f]).get("type"), t, "%s %s %s" % (method, pat, f))
            self.assertEqual(resolve(self.doc, op["requestBody"]).get("required", False), bool(schema.get("required")))


class LiveTest(DaemonTest):
    """The document against the running daemon."""

    def setUp(self):
        super().setUp()
        self.doc = load_doc()

    def check(self, schema_name, value):
        problems = validate(self.doc, {"$ref": "#/components/schemas/" + schema_name}, value)
        self.assertEqual(problems, [], json.dumps(value))

    def test_served_document_is_the_checked_in_one(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.d.port, timeout=30)
        conn.request("GET", "/v1/openapi.json")
        resp = conn.getresponse()
        served = resp.read()
        conn.close()
        self.assertEqual(resp.status, 200)
        self.assertEqual(resp.getheader("Content-Type"), "application/json")
        with open(DOC_PATH, "rb") as f:
            self.assertEqual(served, f.read())

    def test_path_parameters_must_be_uuids(self):
        for method, path, op in operations(self.doc):
            for name in re.findall(r"\{(\w+)\}", path):
                st, err = self.d.request(method, fill(path, bad=name))
                self.assertEqual(st, 400, (method, path, name, err))
                self.check("Error", err)
                self.assertEqual(err["error"]["field"], name)

    def test_unknown_field_named(self):
        """The required fields plus one unknown field: the 400 names the unknown one."""
        for method, path, op in operations(self.doc):
            schema = body_schema(self.doc, op)
            if schema is None:
                continue
            props = schema.get("properties", {})
            body = {f: sample(self.doc, props[f]) for f in schema.get("required", [])}
            body[UNKNOWN] = 1
            st, err = self.d.request(method, fill(path), body=body)
            self.assertEqual(st, 400, (method, path, err))
            self.check("Error", err)
            self.assertEqual(err["error"]["field"], UNKNOWN, (method, path))

    def test_documented_fields_known_and_typed(self):
        """Each documented field is known to the daemon (a wrong type is refused
        naming it, not as unknown), and each required one is required."""
        for method, path, op in operations(self.doc):
            schema = body_schema(self.doc, op)
            if schema is None:
                continue
            props, required = schema.get("properties", {}), schema.get("required", [])
            base = {f: sample(self.doc, props[f]) for f in required}
            for f in props:
                body = dict(base)
                body[f] = wrong(self.doc, props[f])
                st, err = self.d.request(method, fill(path), body=body)
                self.assertEqual(st, 400, (method, path, f, err))
                self.assertEqual(err["error"]["field"], f, (method, path))
                self.assertNotIn("unknown", err["error"]["message"], (method, path, f))
            for f in required:
                body = {k: v for k, v in base.items() if k != f}
                st, err = self.d.request(method, fill(path), body=body)
                self.assertEqual(st, 400, (method, path, f, err))
                self.assertEqual(err["error"]["field"], f, (method, path))
                self.assertIn("required", err["error"]["message"])

    def test_wait_ms_query_parameter(self):
        op = self.doc["paths"]["/v1/tasks/{task}"]["get"]
        q = [resolve(self.doc, p) for p in op["parameters"] if resolve(self.doc, p)["in"] == "query"]
        self.assertEqual([p["name"] for p in q], ["wait_ms"])
        hi = q[0]["schema"]["maximum"]
        task = "/v1/tasks/%s" % uuid.uuid4()
        for v in (-1, hi + 1, "x", ""):
            st, err = self.d.get("%s?wait_ms=%s" % (task, v))
            self.assertEqual(st, 400, v)
            self.assertEqual(err["error"]["field"], "wait_ms")
        for v in (q[0]["schema"]["minimum"], hi):
            st, err = self.d.get("%s?wait_ms=%s" % (task, v))
            self.assertEqual(st, 404, v)  # accepted; the task does not exist

    def test_answers_have_documented_shapes(self):
        st, host = self.d.get("/v1/host")
        self.assertEqual(st, 200)
        self.check("Host", host)
        st, pools = self.d.get("/v1/pools")
        self.assertEqual(st, 200)
        for p in pools:
            self.check("Pool", p)
        st, doms = self.d.get("/v1/domains")
        for d in doms:
            self.check("Domain", d)

        img = "/v1/domains/%s/images" % self.dom
        st, acc = self.d.post(img, {"name": "d1", "format": "qcow2", "capacity": 16 * MiB})
        self.assertEqual(st, 202, acc)
        self.check("TaskAccepted", acc)
        task = self.d.wait_task(acc["task"])
        self.check("Task", task)
        self.assertEqual(task["state"], "finished", task)
        self.check("Volume", task["result"])
        image = acc["image"]
        st, snap = self.d.post("%s/%s/snapshots" % (img, image))
        self.assertEqual(st, 202, snap)
        self.check("TaskAccepted", snap)
        self.check("Task", self.d.wait_task(snap["task"]))
        st, one = self.d.get("%s/%s" % (img, image))
        self.check("Image", one)
        st, all_imgs = self.d.get(img)
        for i in all_imgs:
            self.check("Image", i)
        st, vols = self.d.get("%s/%s/volumes" % (img, image))
        self.assertEqual(len(vols), 2)
        for v in vols:
            self.check("Volume", v)
        st, chain = self.d.get("%s/%s/snapshots" % (img, image))
        for v in chain:
            self.check("Volume", v)
        st, acc = self.d.post("%s/%s/resize" % (img, image), {"capacity": 32 * MiB})
        self.assertEqual(st, 202, acc)
        self.check("Image", self.d.wait_task(acc["task"])["result"])
        st, tasks = self.d.get("/v1/tasks")
        for t in tasks:
            self.check("Task", t)

        st, err = self.d.get("%s/%s" % (img, uuid.uuid4()))
        self.assertEqual(st, 404)
        self.check("Error", err)
        st, err = self.d.request("PUT", "/v1/pools")
        self.assertEqual(st, 405)
        self.check("Error", err)
        st, err = self.d.post("/v1/tasks/%s/abort" % task["uuid"])
        self.assertEqual(st, 409)
        self.check("Error", err)


if __name__ == "__main__":
    unittest.main()
