# Medallion's "Code Roundup" (docs: Managing User Memberships), re-indented
# into valid Python. Changes from the document, all marked "Roster:":
# - base URL, API key and organization id come from the environment;
# - the redacted "[email protected]" placeholders are real addresses, made
#   unique per run with MEDALLION_TAG;
# - f"{member["invite_id"]}" (valid only from Python 3.12) is written
#   f"{member['invite_id']}";
# - the member data is printed at the end for the test to check.
import json  # Roster: for the final print
import os  # Roster: configuration from the environment

import requests

api_key = os.environ["MEDALLION_API_KEY"]  # Roster: was "<YOUR_API_KEY>"
organization_id = os.environ["MEDALLION_ORG_ID"]  # Roster: was "<YOUR_ORG_ID>"
base_url = os.environ["MEDALLION_BASE_URL"]  # Roster: was "https://api.medallion.co"
tag = os.environ["MEDALLION_TAG"]  # Roster: makes the addresses unique

headers = {"x-api-key": api_key, "accept": "application/json"}

membership_url = f"{base_url}/p/api/v1/organizations/members/"

# Placeholder data.  In practice, this will probably be loaded from a spreadsheet or other source.
member_data = [
    {
        "email": f"john.doe.{tag}@example.com",  # Roster: was "[email protected]"
        "role": "admin",
        "last_name": "Doe",
    },
    {
        "email": f"auditor.{tag}@example.com",  # Roster: was "[email protected]"
        "role": "auditor",
    },
    {
        "email": f"jane.doe.{tag}@example.com",  # Roster: was "[email protected]"
        "role": "provider",
        "profession": "MD",
        "first_name": "Jane",
        "last_name": "Doe",
    },
    {"email": f"cher.{tag}@example.com", "role": "super_provider", "profession": "DO", "first_name": "Cher"},  # Roster: was "[email protected]"
]

# Iterate over members, create a membership for each, and store the member ID
for member in member_data:
    member_json = {
        "role": member["role"],
        "user": {"email": member["email"]},
    }
    if member.get("profession"):
        member_json["provider"] = {"profession": member["profession"]},

    response = requests.post(
        membership_url,
        json=member_json,
        headers=headers,
    )
    response.raise_for_status()
    response_json = response.json()

    # We recommend always storing member and provider ids for later use
    if response_json.get("provider"):
        member["provider_id"] = response_json["provider"]["id"]
    member["membership_id"] = response_json["id"]

invites_url = f"{base_url}/p/api/v1/organizations/{organization_id}/invites/"

# Iterate over the member data again and send an invitation to each member
# Could be done in the same loop as above, but split out here for readability
for member in member_data:
    response = requests.post(
        invites_url, json={"membership_id": member["membership_id"]}, headers=headers
    )
    response.raise_for_status()
    response_json = response.json()

    # We recommend always storing the invite ids for later use
    member["invite_id"] = response_json["id"]

# Choose an example member for the rest of the example code
member = member_data[0]

resend_invite_url = f"{base_url}/p/api/v1/organizations/invites/{member['invite_id']}/resend/"

# Resend the invite email
response = requests.post(
    resend_invite_url, headers=headers
)
response.raise_for_status()

revoke_invite_url = f"{base_url}/p/api/v1/organizations/invites/{member['invite_id']}/revoke/"

# Revoke the invite, the emailed sign up code will be automatically invalidated
response = requests.post(
    revoke_invite_url, headers=headers
)
response.raise_for_status()

email_change_url = f"{base_url}/p/api/v1/organizations/members/{member['membership_id']}/change-email/"

# Update the user's email, this will update their login email and the email where they receive
# Medallion notifications
response = requests.post(
    email_change_url, json={"new_email": f"john.doe.new.{tag}@example.com"}, headers=headers  # Roster: was "[email protected]"
)
response.raise_for_status()

member_detail_url = f"{base_url}/p/api/v1/organizations/members/{member['membership_id']}/"

# De-activate the member, the member will no longer be able to view your organization data
# in Medallion
response = requests.patch(
    member_detail_url,
    json={"is_active": False},
    headers=headers,
)
response.raise_for_status()

# Re-activate the member, the member will be able to view your organization data in Medallion
response = requests.patch(
    member_detail_url,
    json={"is_active": True},
    headers=headers,
)
response.raise_for_status()

print(json.dumps(member_data))  # Roster: for the test to check
