DROP TABLE statement_links;
DROP TABLE transactions;
