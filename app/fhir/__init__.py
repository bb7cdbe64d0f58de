"""The HL7 FHIR R4 interface (``shared/spec/fhir.md``), mounted at ``/fhir/R4``: bills and
settlements as FHIR resources, and a FHIR ``Claim`` settled as a one-stop claim, over the same
ledger, rules, tokens and scopes as the REST API.

``codes`` (identifier and code systems, this service's own codes), ``resources`` (the resources
built from the ledger's values), ``serialize`` (their JSON), ``mapping`` (a submitted Claim read as
the REST claim request), ``conformance`` (CapabilityStatement, CodeSystems), ``errors``
(OperationOutcome), ``routes`` (the interactions).  docs/fhir.md says what a client can do.
"""
