"""The HTTP API v1 (../shared/API.md), one router per resource."""
