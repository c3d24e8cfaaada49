"""DynamoDB records, S3 objects and the clients that reach them."""
