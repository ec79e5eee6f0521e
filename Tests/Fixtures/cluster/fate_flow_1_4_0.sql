-- Rows of a FATE 1.4.0 host's fate_flow for the cluster tests, loaded after the schema in
-- Tests/Fixtures/fate_flow-1.4.0.sql: fewer rows than Harness.swift's, still with NULLs, the string
-- 'NULL', non-ASCII and quoted text, and a long DSL.
USE fate_flow;

INSERT INTO t_queue VALUES
  ('2020090112000012345678', '{"job_id": "2020090112000012345678", "initiator_role": "guest", "initiator_party_id": 9999}', 0),
  ('2020090213300098765432', '{"job_id": "2020090213300098765432", "initiator_role": "guest", "initiator_party_id": 9999}', 1);
INSERT INTO t_job VALUES
  ('2020090112000012345678', 'hetero_lr_训练', '纵向逻辑回归 — 第一次训练 ✓ 🚀\nsecond line', 'exp-α', 'guest', '9999',
   '{"guest": [9999], "host": [10000], "arbiter": [10000]}', 1, '9999', 1, REPEAT('{"dataio": {"module": "DataIO"}} ', 2000),
   '{"initiator": {"role": "guest", "party_id": 9999}, "note": "quotes \' \\" and a backslash \\\\ kept"}', NULL,
   '192.168.0.1:9380', 'success', '["dataio_0","hetero_lr_0"]', '["2020090112000012345678_dataio_0"]', 100,
   1598961600000, 1598962200000, 1598961601000, 1598962200000, 599000),
  ('2020090112000012345678', 'hetero_lr_训练', NULL, NULL, 'host', '10000', '{"guest": [9999], "host": [10000]}', 1,
   '9999', 0, '{}', '{}', NULL, '192.168.0.2:9380', 'success', NULL, NULL, 100, 1598961600500, NULL, NULL, NULL, NULL),
  ('2020090213300098765432', NULL, '', '', 'arbiter', '10000', '{"arbiter": [10000]}', 1,
   '9999', -1, '{}', '{}', '{}', '192.168.0.2:9380', 'running', NULL, NULL, 0, 1599053400000, NULL, 1599053401000, NULL, NULL);
INSERT INTO t_task VALUES
  ('2020090112000012345678', 'dataio_0', '2020090112000012345678_dataio_0', 'guest', '9999', NULL, '192.168.0.1', 4242, 'success',
   1598961601000, 1598961700000, 1598961602000, 1598961700000, 98000),
  ('2020090112000012345678', 'hetero_lr_0', '2020090112000012345678_hetero_lr_0', 'host', '10000', 'NULL', NULL, NULL, 'success',
   1598961700500, NULL, NULL, NULL, NULL);
INSERT INTO t_data_view VALUES
  ('2020090112000012345678', 'guest', '9999', 'breast_b', 'experiment', 'dataio_0', 1598961602000, 1598961700000,
   569, 569, 16, '2020090112000012345678_dataio_0', 'data', 0, 'guest#9999#arbiter-10000#guest-9999#host-10000#model',
   '2020090112000012345678', 43210, '训练数据 «breast» \\ \'b\'', 'exp-α'),
  ('2020090112000012345678', 'host', '10000', NULL, NULL, 'hetero_lr_0', 1598961700500, NULL,
   NULL, NULL, NULL, '2020090112000012345678_hetero_lr_0', NULL, 0, NULL, NULL, 0, NULL, NULL);
INSERT INTO t_machine_learning_model_meta VALUES
  (1, 'guest', '9999', '{"guest": [9999], "host": [10000], "arbiter": [10000]}', '2020090112000012345678',
   'arbiter-10000#guest-9999#host-10000#model', '2020090112000012345678', 1048576, 1598962200000, 1598962200000, '模型 · model v1', 'exp-α'),
  (2, 'host', '10000', '{"host": [10000]}', '2020090112000012345678', 'arbiter-10000#guest-9999#host-10000#model',
   '2020090112000012345678', 0, 1598962200500, 0, NULL, NULL);
