"""A small client of a Roster in test mode, and the world of one scenario.

Only the standard library: urllib and json. The /_test/ routes give a fresh
project (POST /_test/projects), the mail of an address with its links parsed
(GET /_test/mail?to=) and a movable clock (POST /_test/clock)."""
import base64
import hashlib
import json
import re
import secrets
import urllib.error
import urllib.parse
import urllib.request

EXAMPLE_ADDRESS = re.compile(r"([A-Za-z0-9._%+-]+)@example\.com\b")
PLACEHOLDER = re.compile(r"\{([a-z][a-z ]*)\}")


class Answer:
    def __init__(self, status, headers, body):
        self.status, self.headers, self.body = status, headers, body

    def json(self):
        return json.loads(self.body)

    def __str__(self):
        return f"{self.status} {self.body[:2000]}"


class World:
    """One scenario: its project, its people's tokens, the latest answer.
    Addresses written @example.com move to a domain of the scenario's own, so
    scenarios never meet however often they run against one server."""

    def __init__(self, url):
        self.url = url if url.endswith("/") else url + "/"
        self.domain = "t" + secrets.token_hex(4) + ".example.com"
        self.project = None
        self.tokens = {}
        self.vars = {}
        self.last = None

    def expand(self, text):
        text = EXAMPLE_ADDRESS.sub(lambda m: m.group(1) + "@" + self.domain, text)
        return PLACEHOLDER.sub(lambda m: self.vars.get(m.group(1), m.group(0)), text)

    def call(self, method, path, body=None, token=None, form=None):
        headers, data = {}, None
        if token:
            headers["Authorization"] = "Bearer " + token
        if body is not None:
            headers["Content-Type"], data = "application/json", json.dumps(body).encode()
        if form is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            data = urllib.parse.urlencode(form).encode()
        req = urllib.request.Request(self.url + path.lstrip("/"), data=data, headers=headers, method=method)
        try:
            with urllib.request.urlopen(req) as resp:
                answer = Answer(resp.status, resp.headers, resp.read().decode())
        except urllib.error.HTTPError as err:
            answer = Answer(err.code, err.headers, err.read().decode())
        self.last = answer
        return answer

    def fresh_project(self):
        answer = self.call("POST", "_test/projects", {})
        assert answer.status == 201, f"POST /_test/projects: {answer} (is ROSTER_TEST_MODE=1 set?)"
        self.project = answer.json()
        self.vars["project"] = self.project["project"]["id"]

    def admin_token(self):
        assert self.project, 'no project yet: start with "Given a fresh project"'
        return self.project["accessToken"]

    def token_of(self, actor):
        if actor == "the admin":
            return self.admin_token()
        if actor == "nobody":
            return None
        return self.tokens.get(self.expand(actor.strip('"')).lower())

    def sign_in(self, email, password):
        """POST /auth/login with a PKCE challenge, then the code for tokens."""
        verifier = secrets.token_hex(32)
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        login = self.call("POST", "auth/login", {"email": email, "password": password,
                                                 "codeChallenge": challenge, "codeChallengeMethod": "S256"})
        if login.status != 200 or "code" not in login.json():
            return None
        tokens = self.call("POST", "oauth2/token", form={"grant_type": "authorization_code",
                                                        "code": login.json()["code"], "code_verifier": verifier})
        return tokens.json()["access_token"] if tokens.status == 200 else None

    def mail(self, email):
        """The mail to an address, newest first."""
        answer = self.call("GET", "_test/mail?to=" + urllib.parse.quote(self.expand(email)))
        assert answer.status == 200, f"GET /_test/mail: {answer}"
        return answer.json()

    def link(self, email, which):
        with_link = [m for m in self.mail(email) if m.get("setPassword")]
        assert with_link, f"no mail to {email} has a set-password link"
        return (with_link[-1] if which == "first" else with_link[0])["setPassword"]

    def advance(self, duration):
        answer = self.call("POST", "_test/clock", {"advance": duration})
        assert answer.status == 200, f"POST /_test/clock: {answer}"
        # The admin signs in again, as a client refreshes: the old token
        # lives an hour on the clock that just moved.
        admin = self.project["admin"]
        self.project["accessToken"] = self.sign_in(admin["email"], admin["password"])

    def invitation(self, email):
        path = f"admin/projects/{self.vars['project']}/invites?email=" + urllib.parse.quote(self.expand(email))
        answer = self.call("GET", path, token=self.admin_token())
        invites = answer.json().get("invites") or []
        assert answer.status == 200 and invites, f"no invitation of {email}: {answer}"
        return invites[0]


def lookup(value, path):
    """Follows a dotted path (list indexes as numbers, # for a length)."""
    for part in path.split("."):
        if isinstance(value, list):
            value = len(value) if part == "#" else value[int(part)]
        else:
            value = value[part]
    return value


def parse(text):
    """A feature's value: JSON when it is JSON, else the text itself."""
    try:
        return json.loads(text)
    except ValueError:
        return text
