from app.core.errors import NotFound


class TransactionNotFound(NotFound):
    code = "transaction.not_found"
    title = "No such transaction"
