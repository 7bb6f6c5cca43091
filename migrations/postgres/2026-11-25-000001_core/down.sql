DROP TABLE api_clients;
DROP TABLE data_keys;
DROP TABLE users;
