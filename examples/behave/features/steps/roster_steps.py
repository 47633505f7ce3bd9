"""Roster's step vocabulary for behave: the same sentences as the Go step
definitions (fixtures/steps), for the features this example runs."""
import json
import re

from behave import step, use_step_matcher

from roster import lookup, parse

use_step_matcher("re")

ACTOR = r'(?P<actor>the admin|nobody|"[^"]+")'
TYPES = {"practitioner": "Practitioner", "patient": "Patient", "related person": "RelatedPerson"}


@step(r"a fresh project")
def fresh_project(context):
    context.world.fresh_project()


@step(ACTOR + r' (?P<verb>invites|has invited) the (?P<kind>practitioner|patient|related person) "(?P<name>[^"]+)" <(?P<email>[^>]+)>')
def invite(context, actor, verb, kind, name, email):
    w = context.world
    first, _, last = name.rpartition(" ")
    body = {"resourceType": TYPES[kind], "firstName": first, "lastName": last, "email": w.expand(email)}
    answer = w.call("POST", f"admin/projects/{w.vars['project']}/invite", body, w.token_of(actor))
    if verb == "has invited":
        assert answer.status == 200, str(answer)


@step(r'the admin (?P<verb>resends|revokes) the invitation of "(?P<email>[^"]+)"')
def act_on_invitation(context, verb, email):
    w = context.world
    path = f"admin/projects/{w.vars['project']}/invites/{w.invitation(email)['id']}"
    if verb == "resends":
        w.call("POST", path + "/resend", token=w.admin_token())
    else:
        w.call("DELETE", path, token=w.admin_token())


@step(r'the invitation of "(?P<email>[^"]+)" is "(?P<status>[^"]+)"')
def invitation_is(context, email, status):
    got = context.world.invitation(email)["status"]
    assert got == status, f"the invitation of {email} is {got}, not {status}"


@step(ACTOR + r' sends (?P<method>GET|POST|PUT|PATCH|DELETE) "(?P<path>[^"]+)"')
def send(context, actor, method, path):
    w = context.world
    body = json.loads(w.expand(context.text)) if context.text else None
    w.call(method, w.expand(path), body, w.token_of(actor))


@step(r'"(?P<email>[^"]+)" (?P<can>signs in|cannot sign in) with "(?P<password>[^"]*)"')
def sign_in(context, email, can, password):
    w = context.world
    token = w.sign_in(w.expand(email), password)
    if can == "signs in":
        assert token, f"{email} could not sign in: {w.last}"
        w.tokens[w.expand(email).lower()] = token
    else:
        assert token is None, f"{email} signed in with {password!r}"


@step(r"the answer is (?P<status>\d+)")
def answer_is(context, status):
    assert context.world.last.status == int(status), f"want {status}: {context.world.last}"


@step(r'the answer says "(?P<text>[^"]+)"')
def answer_says(context, text):
    assert text in context.world.last.body, f"the answer does not say {text!r}: {context.world.last}"


@step(r'the answer\'s "(?P<path>[^"]+)" is (?P<want>.+)')
def answer_field(context, path, want):
    w = context.world
    got = lookup(w.last.json(), w.expand(path))
    assert got == parse(w.expand(want)), f"the answer's {path} is {got!r}, not {want}: {w.last}"


@step(r"the answer has:?")
def answer_has(context):
    for row in [context.table.headings] + [r.cells for r in context.table.rows]:
        answer_field(context, row[0], row[1])


@step(r'"(?P<email>[^"]+)" got (?P<n>\d+) mails?')
def got_mails(context, email, n):
    got = len(context.world.mail(email))
    assert got == int(n), f"{email} got {got} mails, not {n}"


@step(r'"(?P<email>[^"]+)" sets the password "(?P<password>[^"]*)" with the (?:(?P<which>newest|first) )?link')
def set_password(context, email, password, which):
    w = context.world
    link = w.link(email, which)
    w.call("POST", "auth/setpassword", {"id": link["id"], "secret": link["secret"], "password": password})


@step(r"the clock moves on (?P<by>.+)")
def clock_moves(context, by):
    m = re.fullmatch(r"(\d+) (day|hour|minute)s?", by)
    hours = {"day": 24, "hour": 1, "minute": 1 / 60}
    context.world.advance(f"{int(m.group(1)) * hours[m.group(2)] * 60:.0f}m" if m else by)
