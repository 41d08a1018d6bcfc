#!/usr/bin/python3
"""python3-winrm as a WS-Management client of `hvdisk wsman` (tests/interop/wsman_interop_test.cc).

Usage: wsman_winrm_client.py ENDPOINT USER PASSWORD send FILE
         posts the envelope in FILE with Protocol.send_message; prints the reply (a SOAP fault's
         body too, after a line "FAULT <http status>")
       wsman_winrm_client.py ENDPOINT USER PASSWORD poll JOB_ID
         Gets Msvm_ConcreteJob JOB_ID every 100 ms, as libvirt does, until JobState is 7 or
         8..11; prints the last reply
With WSMAN_CA=FILE in the environment the server's certificate is validated against FILE
(https endpoints); otherwise it is not checked.
Exit 0 on a reply, 1 on a fault or transport error.
"""
import os
import sys
import time
import uuid
import xml.etree.ElementTree as ET

import winrm
from winrm.exceptions import WinRMTransportError

URI = "http://schemas.microsoft.com/wbem/wsman/1/wmi/root/virtualization/v2/"


def send(protocol, envelope):
    try:
        return 0, protocol.send_message(envelope).decode("utf-8")
    except WinRMTransportError as e:
        return 1, "FAULT %s\n%s" % (e.code, e.response_text)
    except Exception as e:  # the library's parsed faults (WinRMError and others)
        return 1, "FAULT %s: %s" % (type(e).__name__, e)


def text_of(reply, local):
    root = ET.fromstring(reply)
    for node in root.iter():
        if node.tag.split("}")[-1] == local:
            return (node.text or "").strip()
    return None


def get_job(job_id):
    return f"""<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"
 xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing"
 xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd">
<s:Header>
<a:To>http://127.0.0.1/wsman</a:To>
<w:ResourceURI s:mustUnderstand="true">{URI}Msvm_ConcreteJob</w:ResourceURI>
<a:ReplyTo><a:Address s:mustUnderstand="true">http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:Address></a:ReplyTo>
<a:Action s:mustUnderstand="true">http://schemas.xmlsoap.org/ws/2004/09/transfer/Get</a:Action>
<w:MaxEnvelopeSize s:mustUnderstand="true">153600</w:MaxEnvelopeSize>
<a:MessageID>uuid:{uuid.uuid4()}</a:MessageID>
<w:Locale xml:lang="en-US" s:mustUnderstand="false"/>
<w:OperationTimeout>PT60S</w:OperationTimeout>
<w:SelectorSet><w:Selector Name="InstanceID">{job_id}</w:Selector></w:SelectorSet>
</s:Header>
<s:Body/>
</s:Envelope>"""


def poll(protocol, job_id):
    for _ in range(3000):
        status, reply = send(protocol, get_job(job_id))
        if status != 0:
            return status, reply
        state = int(text_of(reply, "JobState"))
        if state == 7 or 8 <= state <= 11:
            return 0, reply
        time.sleep(0.1)
    return 1, "FAULT job %s did not end" % job_id


def main():
    endpoint, user, password, verb, arg = sys.argv[1:6]
    ca = os.environ.get("WSMAN_CA")
    protocol = winrm.Protocol(endpoint=endpoint, transport="basic", username=user,
                              password=password,
                              server_cert_validation="validate" if ca else "ignore",
                              ca_trust_path=ca or "legacy_requests")
    if verb == "send":
        with open(arg, encoding="utf-8") as f:
            status, reply = send(protocol, f.read())
    else:
        status, reply = poll(protocol, arg)
    print(reply)
    return status


if __name__ == "__main__":
    sys.exit(main())
