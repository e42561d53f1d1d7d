"""The HTTP edges of the app: webhooks, pages and the API."""
