"""The model format: what a terminal host application looks like and how to drive it.

A model (YAML, ``docs/models.md``, schema ``docs/model.schema.json``) names the host, the entities (screens,
recognised by rules), their attributes, operations and recordsets, the sign-on/off navigation, and tables
whose procedures answer a small SQL subset. :func:`load_model` validates a whole model and reports every
issue with its path in one :class:`~hostgate.errors.ModelError`.

    from pathlib import Path
    from hostgate.models import load_model, plan_query

    model = load_model(Path("samples/models/demo3270.yaml"))
    entity = model.recognize(screen)           # screen: hostgate.hosts.Screen (or any ScreenLike)
    plan = plan_query(model, "SELECT name FROM guests WHERE name = 'ADA'")

A session server serves the models deployed into its models directory (:func:`deploy_model`,
:class:`ModelLibrary`: validated whole before an atomic rename, reloaded when the file changes).
"""

from hostgate.models.host import DEFAULT_TERMINALS, KNOWN_TERMINALS, HostSpec, HostType, Terminal
from hostgate.models.keys import HOST_KEYS, Key, parse_key
from hostgate.models.library import DeployedModel, ModelLibrary, deploy_model
from hostgate.models.loader import FORMAT_VERSIONS, load_model
from hostgate.models.rules import CursorRule, RegexRule, Region, Rule, ScreenLike, TextRule, all_match
from hostgate.models.spec import (
    Access,
    Attribute,
    Column,
    Entity,
    FillStep,
    KeyStep,
    Model,
    Navigation,
    Operation,
    OperationRef,
    OutputMap,
    Procedure,
    ProcedureInput,
    ProcedureStep,
    ProcedureType,
    Record,
    RecordField,
    Recordset,
    Step,
    Table,
    TypeStep,
    Value,
    ValueType,
    Variable,
    convert_value,
    render_template,
    template_names,
)
from hostgate.models.sql import Condition, QueryPlan, SqlQuery, parse_sql, plan_query

__all__ = [
    "DEFAULT_TERMINALS",
    "FORMAT_VERSIONS",
    "HOST_KEYS",
    "KNOWN_TERMINALS",
    "Access",
    "Attribute",
    "Column",
    "Condition",
    "CursorRule",
    "DeployedModel",
    "Entity",
    "FillStep",
    "HostSpec",
    "HostType",
    "Key",
    "KeyStep",
    "Model",
    "ModelLibrary",
    "Navigation",
    "Operation",
    "OperationRef",
    "OutputMap",
    "Procedure",
    "ProcedureInput",
    "ProcedureStep",
    "ProcedureType",
    "QueryPlan",
    "Record",
    "RecordField",
    "Recordset",
    "RegexRule",
    "Region",
    "Rule",
    "ScreenLike",
    "SqlQuery",
    "Step",
    "Table",
    "Terminal",
    "TextRule",
    "TypeStep",
    "Value",
    "ValueType",
    "Variable",
    "all_match",
    "convert_value",
    "deploy_model",
    "load_model",
    "parse_key",
    "parse_sql",
    "plan_query",
    "render_template",
    "template_names",
]
