"""The console's AMIs and key pairs pages in-process (Flask test client as a signed-in root user): the pure
helpers, the key download's headers, import, delete and the launch form's preselected AMI. The browser runs
them in tests/console/test_console_images.py."""

from __future__ import annotations

import re
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from controller.console.pages_images import download_name, owner_of
from tests.unit import test_console_services as service_pages
from tests.unit.test_console_services import csrf_of

cloud, client = service_pages.cloud, service_pages.client


@pytest.mark.parametrize(("name", "key_format", "expected"), [
    ("deploy", "pem", "deploy.pem"),
    ("deploy", "ppk", "deploy.ppk"),
    ("my key/\"quoted\";x", "pem", "my_key__quoted__x.pem"),
    ("..", "pem", "key.pem"),
    ("a.b-c_d", "anything", "a.b-c_d.pem"),
])
def test_the_download_is_named_after_the_key_with_nothing_a_header_could_misread(
        name: str, key_format: str, expected: str) -> None:
    assert download_name(name, key_format) == expected


def test_the_owner_column_prefers_the_alias() -> None:
    assert owner_of({"OwnerId": "000000000001", "ImageOwnerAlias": "amazon"}) == "amazon"
    assert owner_of({"OwnerId": "000000000001"}) == "000000000001"


def test_a_created_key_is_downloaded_once_and_listed_with_its_fingerprint(client: Any) -> None:
    page = client.get("/console/ec2/key-pairs")
    assert page.status_code == 200 and b"No key pairs." in page.data and b'id="ec2-nav"' in page.data
    token = csrf_of(page.data)
    assert client.post("/console/ec2/key-pairs/create", data={"name": "unit"}).status_code == 403  # no CSRF
    created = client.post("/console/ec2/key-pairs/create", data={
        "_csrf": token, "name": "unit", "key_type": "ed25519", "key_format": "pem"})
    assert created.status_code == 200
    assert created.headers["Content-Disposition"] == 'attachment; filename="unit.pem"'
    assert created.headers["Cache-Control"] == "no-store"
    private = serialization.load_ssh_private_key(created.data, None)
    assert isinstance(private, ed25519.Ed25519PrivateKey)
    listed = client.get("/console/ec2/key-pairs").data.decode()
    assert "BEGIN OPENSSH PRIVATE KEY" not in listed and re.search(r"<th scope=\"row\">unit</th>", listed)
    again = client.post("/console/ec2/key-pairs/create", data={"_csrf": token, "name": "unit"})
    assert again.status_code == 400 and b"InvalidKeyPair.Duplicate" in again.data
    ppk = client.post("/console/ec2/key-pairs/create", data={"_csrf": token, "name": "putty", "key_format": "ppk"})
    assert ppk.status_code == 400 and b"puttygen" in ppk.data  # AWS's refusal as the API words it


def test_a_key_is_imported_and_deleted(client: Any) -> None:
    token = csrf_of(client.get("/console/ec2/key-pairs").data)
    public = ed25519.Ed25519PrivateKey.generate().public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
    imported = client.post("/console/ec2/key-pairs/import", data={"_csrf": token, "name": "laptop",
                                                                  "public_key": public + " me@laptop\n"})
    assert imported.status_code == 303
    listed = client.get(imported.headers["Location"]).data.decode()
    assert "Imported the key pair laptop." in listed
    key_pair_id = re.search(r'id="key-pair-(key-[0-9a-f]+)"', listed)[1]  # type: ignore[index]
    bad = client.post("/console/ec2/key-pairs/import", data={"_csrf": token, "name": "bad",
                                                             "public_key": "not a key"})
    assert bad.status_code == 400 and b"InvalidKey.Format" in bad.data
    deleted = client.post(f"/console/ec2/key-pairs/{key_pair_id}/delete", data={"_csrf": token})
    assert deleted.status_code == 303
    assert b"No key pairs." in client.get(deleted.headers["Location"]).data
    assert client.post("/console/ec2/key-pairs/nonsense/delete", data={"_csrf": token}).status_code == 404


def test_the_amis_page_and_the_launch_forms_preselected_image(client: Any) -> None:
    page = client.get("/console/ec2/images")
    assert page.status_code == 200 and b'id="images"' in page.data
    token = csrf_of(client.get("/console/ec2/key-pairs").data)
    missing = client.post("/console/ec2/images/ami-0123456789abcdef0/deregister", data={"_csrf": token})
    assert missing.status_code == 400 and b"InvalidAMIID.NotFound" in missing.data
    form = client.get("/console/ec2/instances/launch?image_id=ami-0123456789abcdef0").data.decode()
    assert 'value="ami-0123456789abcdef0"' in form  # no image to choose from: the free-text field holds it
