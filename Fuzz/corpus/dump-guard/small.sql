DROP TABLE IF EXISTS `t_job`;
CREATE TABLE `t_job` (`a` int);
LOCK TABLES `t_job` WRITE;
INSERT INTO `t_job` VALUES (1),('a;b');
UNLOCK TABLES;
-- Dump completed
