"""A model's WSDL 1.1 (SOAP 1.1, document/literal, wrapped), generated from its catalog.

One operation per procedure: the request element ``{procedure}Request`` holds the inputs (typed from the
table's columns; optional ones ``minOccurs="0"``), the answer ``{procedure}Response`` holds ``row`` elements
(the outputs, each nillable) and, when the session was kept, ``session``. The SOAP header elements
``ServerName``, ``Domain``, ``Pool``, ``Keep`` and ``Session`` are declared in the binding, so a generated
client can set them (zeep: ``_soapheaders={"ServerName": "vhi-prod-sea"}``). Faults carry the hostgate code in
``faultstring`` and in ``detail/hg:error/code``.
"""

from __future__ import annotations

from xml.sax.saxutils import quoteattr

from hostgate.messages.catalog import ColumnInfo, InputInfo, ModelCatalog

__all__ = ["HEADER_ELEMENTS", "SOAP_ENV", "namespace", "wsdl_document"]

SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
HEADER_ELEMENTS = {
    "ServerName": "xsd:string",
    "Domain": "xsd:string",
    "Pool": "xsd:string",
    "Keep": "xsd:boolean",
    "Session": "xsd:string",
}
_XSD = {"integer": "xsd:long", "decimal": "xsd:decimal", "string": "xsd:string"}


def namespace(model: str) -> str:
    return f"urn:hostgate:ws:{model}"


def _input(i: InputInfo) -> str:
    occurs = "" if i.required else ' minOccurs="0"'
    return f'<xsd:element name={quoteattr(i.column)} type="{_XSD.get(i.type, "xsd:string")}"{occurs}/>'


def _output(c: ColumnInfo) -> str:
    return (
        f'<xsd:element name={quoteattr(c.name)} type="{_XSD.get(c.type, "xsd:string")}" '
        'minOccurs="0" nillable="true"/>'
    )


def wsdl_document(catalog: ModelCatalog, address: str) -> str:
    """The WSDL of ``catalog``'s procedures, its service at ``address`` (``https://host:port/ws/soap/MODEL``)."""
    ns = namespace(catalog.model)
    types: list[str] = [f'<xsd:element name="{n}" type="{t}"/>' for n, t in HEADER_ELEMENTS.items()]
    types.append(
        '<xsd:element name="error"><xsd:complexType><xsd:sequence>'
        '<xsd:element name="code" type="xsd:string"/><xsd:element name="hint" type="xsd:string" minOccurs="0"/>'
        '<xsd:element name="request_id" type="xsd:string" minOccurs="0"/>'
        "</xsd:sequence></xsd:complexType></xsd:element>"
    )
    messages = [
        f'<wsdl:message name="{n}Header"><wsdl:part name="{n}" element="tns:{n}"/></wsdl:message>'
        for n in HEADER_ELEMENTS
    ]
    ops: list[str] = []
    bindings: list[str] = []
    headers = "".join(
        f'<soap:header message="tns:{n}Header" part="{n}" use="literal"/>' for n in HEADER_ELEMENTS
    )
    for p in catalog.procedures:
        name = p.name
        types.append(
            f'<xsd:element name="{name}Request"><xsd:complexType><xsd:sequence>'
            + "".join(_input(i) for i in p.inputs)
            + "</xsd:sequence></xsd:complexType></xsd:element>"
        )
        types.append(
            f'<xsd:complexType name="{name}Row"><xsd:sequence>'
            + "".join(_output(c) for c in p.outputs)
            + "</xsd:sequence></xsd:complexType>"
        )
        types.append(
            f'<xsd:element name="{name}Response"><xsd:complexType><xsd:sequence>'
            f'<xsd:element name="row" type="tns:{name}Row" minOccurs="0" maxOccurs="unbounded"/>'
            '<xsd:element name="session" type="xsd:string" minOccurs="0"/>'
            "</xsd:sequence></xsd:complexType></xsd:element>"
        )
        messages.append(
            f'<wsdl:message name="{name}Input"><wsdl:part name="parameters" element="tns:{name}Request"/>'
            f'</wsdl:message><wsdl:message name="{name}Output">'
            f'<wsdl:part name="parameters" element="tns:{name}Response"/></wsdl:message>'
        )
        doc = f"<wsdl:documentation>{_text(p.description)}</wsdl:documentation>" if p.description else ""
        ops.append(
            f'<wsdl:operation name="{name}">{doc}<wsdl:input message="tns:{name}Input"/>'
            f'<wsdl:output message="tns:{name}Output"/></wsdl:operation>'
        )
        bindings.append(
            f'<wsdl:operation name="{name}"><soap:operation soapAction="{ns}#{name}" style="document"/>'
            f'<wsdl:input><soap:body use="literal"/>{headers}</wsdl:input>'
            '<wsdl:output><soap:body use="literal"/></wsdl:output></wsdl:operation>'
        )
    model = catalog.model
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<wsdl:definitions name="{model}" targetNamespace="{ns}" xmlns:tns="{ns}"'
        ' xmlns:wsdl="http://schemas.xmlsoap.org/wsdl/" xmlns:soap="http://schemas.xmlsoap.org/wsdl/soap/"'
        ' xmlns:xsd="http://www.w3.org/2001/XMLSchema">'
        f'<wsdl:types><xsd:schema targetNamespace="{ns}" elementFormDefault="qualified">'
        + "".join(types)
        + "</xsd:schema></wsdl:types>"
        + "".join(messages)
        + f'<wsdl:portType name="{model}PortType">'
        + "".join(ops)
        + "</wsdl:portType>"
        + f'<wsdl:binding name="{model}Binding" type="tns:{model}PortType">'
        '<soap:binding style="document" transport="http://schemas.xmlsoap.org/soap/http"/>'
        + "".join(bindings)
        + "</wsdl:binding>"
        + f'<wsdl:service name="{model}Service"><wsdl:port name="{model}Port" binding="tns:{model}Binding">'
        f"<soap:address location={quoteattr(address)}/></wsdl:port></wsdl:service>"
        "</wsdl:definitions>\n"
    )


def _text(value: str) -> str:
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
