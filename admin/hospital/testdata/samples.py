# The hospital-membership document's `requests` samples, in its order,
# re-indented and closed into valid Python. Changes from the document, all
# marked "Roster:": {{BASE_URL}}, the token and the ids come from the
# environment (Roster ids are strings), and each answer is collected and
# printed as JSON at the end for the test to check.
import json
import os  # Roster: configuration from the environment

import requests

BASE_URL = os.environ["HOSPITAL_BASE_URL"]  # Roster: was {{BASE_URL}}
TOKEN = os.environ["HOSPITAL_TOKEN"]  # Roster: was {{YOUR_TOKEN}} / {{token}}
MEMBERSHIP_ID = os.environ["HOSPITAL_MEMBERSHIP_ID"]  # Roster: was {{MEMBERSHIP_ID}}
HOSPITAL_ID = os.environ["HOSPITAL_HOSPITAL_ID"]  # Roster: was {{Hospital_ID}}
MEDIC = os.environ["HOSPITAL_MEDIC"]  # Roster: was 33
NEW_HOSPITAL = os.environ["HOSPITAL_NEW_HOSPITAL"]  # Roster: was 1
TARGET_ID = os.environ["HOSPITAL_TARGET_ID"]  # Roster: was {{Memberhip_ID}}

answers = []  # Roster: collected answers


def keep(name, response):  # Roster: records each answer
    answers.append({"name": name, "status": response.status_code, "body": response.json()})


# GET List all Memberships
url = f"{BASE_URL}/api/v2/management/memberships/"

headers = {
    'Authorization': f'Token {TOKEN}'
}

response = requests.request("GET", url, headers=headers)
keep("list", response)

# GET to singular Membership
url = f"{BASE_URL}/api/v2/management/memberships/{MEMBERSHIP_ID}"

headers = {
    'Authorization': f'Token {TOKEN}'
}

response = requests.request("GET", url, headers=headers)
keep("get", response)

# List Medics Memberships for a singular Hospital
url = f"{BASE_URL}/api/v2/memberships/{HOSPITAL_ID}"

headers = {
    'Authorization': f'Token {TOKEN}'
}

response = requests.request("GET", url, headers=headers)
keep("medics", response)

# POST Create Membership
url = f"{BASE_URL}/api/v2/management/memberships/"

payload = json.dumps({
    "medic": MEDIC,
    "hospital": NEW_HOSPITAL,
    "type_membership": "ADMIN"
})
headers = {
    'Authorization': f'Token {TOKEN}',
    'Content-Type': 'application/json'
}

response = requests.request("POST", url, headers=headers, data=payload)
keep("create", response)

# DELETE Membership
url = f"{BASE_URL}/api/v2/management/memberships/{TARGET_ID}"

headers = {
    'Authorization': f'Token {TOKEN}'
}

response = requests.request("DELETE", url, headers=headers)
keep("delete", response)

# PATCH Update Membership
url = f"{BASE_URL}/api/v2/management/memberships/{TARGET_ID}"

payload = json.dumps({
    "is_deleted": False,  # Roster: the document's JSON-style false
    "type_membership": "MEMBER"
})
headers = {
    'Authorization': f'Token {TOKEN}',
    'Content-Type': 'application/json'
}

response = requests.request("PATCH", url, headers=headers, data=payload)
keep("patch", response)

print(json.dumps(answers))  # Roster: for the test to check
