"""The hub: the kernel (:class:`renkei.core.Core`) with every feature composed on it, as
typed attributes, shared by the HTTP app, the worker and the CLI.

The features are built first, each handed the ones it needs (flows send through
``webhooks`` and ``connectors``); then each adds its tasks, schedules, fan-out handler,
config sections and closers to the kernel. That order is the order of fan-out (deliveries,
then flows, then syncs) and of config sections (a plan applies them in it).
"""

from __future__ import annotations

from renkei.alerts import feature as alerts_feature
from renkei.alerts.service import Alerts
from renkei.clock import Clock
from renkei.connectors import feature as connectors_feature
from renkei.connectors.service import ConnectorService
from renkei.core import Core
from renkei.delivery import feature as delivery_feature
from renkei.delivery.service import Webhooks
from renkei.events import feature as events_feature
from renkei.events.ingest import IngestService
from renkei.flows import feature as flows_feature
from renkei.flows.engine import FlowEngine
from renkei.operations import OperationRunner
from renkei.operations import feature as operations_feature
from renkei.privacy import PrivacyRequests
from renkei.privacy import feature as privacy_feature
from renkei.settings import Settings
from renkei.syncs import feature as syncs_feature
from renkei.syncs.service import SyncService

__all__ = ["Hub"]


class Hub(Core):
    def __init__(self, settings: Settings, *, clock: Clock | None = None) -> None:
        super().__init__(settings, clock=clock)
        self.ingest = IngestService(self)
        self.webhooks = Webhooks(self, self.ingest)
        self.connectors = ConnectorService(self)
        self.flows = FlowEngine(self, webhooks=self.webhooks, connectors=self.connectors)
        self.syncs = SyncService(self, self.connectors)
        self.alerts = Alerts(self, self.connectors.runtime.health)
        self.operations = OperationRunner(self, self.webhooks, self.flows)
        self.privacy = PrivacyRequests(self, self.connectors)
        delivery_feature.install(self, self.webhooks)
        events_feature.install(self, self.ingest)
        connectors_feature.install(self, self.connectors)
        flows_feature.install(self, self.flows)
        syncs_feature.install(self, self.syncs)
        alerts_feature.install(self, self.alerts)
        operations_feature.install(self, self.operations)
        privacy_feature.install(self, self.privacy)
