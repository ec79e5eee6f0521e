/*!40101 SET @A=@@B */;
/*M!999999\- enable the sandbox mode */
SET @a=1--1;
