"""Meta's message templates as values, with no I/O: what a template's components ask of a send
(``components.py``), its text as the recipient reads it (``render.py``), the parameters a send gives checked
against them (``params.py``), and a new template checked against Meta's rules before it is submitted
(``rules.py``). The inbox's picker, the API's preview and the send path all read templates through here.

Components: https://developers.facebook.com/docs/whatsapp/business-management-api/message-templates/components
Sending: https://developers.facebook.com/docs/whatsapp/cloud-api/guides/send-message-templates
"""
