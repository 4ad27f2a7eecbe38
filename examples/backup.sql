--
-- PostgreSQL database dump
--

\restrict TiTrASPf7M5fyoaRBaEEzRiSmSbBc3XKvj8qucEHdPu17bbZrdezeVxiqEilWJ2

-- Dumped from database version 18.6
-- Dumped by pg_dump version 18.6

SET statement_timeout = 0;
SET lock_timeout = 0;
SET idle_in_transaction_session_timeout = 0;
SET transaction_timeout = 0;
SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;
SELECT pg_catalog.set_config('search_path', '', false);
SET check_function_bodies = false;
SET xmloption = content;
SET client_min_messages = warning;
SET row_security = off;

--
-- Data for Name: users; Type: TABLE DATA; Schema: public; Owner: postgres
--

COPY public.users (id, email, cart_id, order_id) FROM stdin;
5	user5@example.com	\N	4
1	user1@example.com	1	5
2	user2@example.com	2	6
3	user3@example.com	3	2
4	user4@example.com	4	3
\.


--
-- Data for Name: carts; Type: TABLE DATA; Schema: public; Owner: postgres
--

COPY public.carts (id, user_id) FROM stdin;
1	1
2	2
3	3
4	4
\.


--
-- Data for Name: categories; Type: TABLE DATA; Schema: public; Owner: postgres
--

COPY public.categories (id, name, img_id) FROM stdin;
4	category 4	\N
1	category 1	9
2	category 2	10
3	category 3	11
\.


--
-- Data for Name: products; Type: TABLE DATA; Schema: public; Owner: postgres
--

COPY public.products (id, category_id, name, price) FROM stdin;
1	1	product 1	3.25
2	2	product 2	6.50
3	3	product 3	9.75
4	4	product 4	13.00
5	1	product 5	16.25
6	2	product 6	19.50
7	3	product 7	22.75
8	4	product 8	26.00
\.


--
-- Data for Name: imgs; Type: TABLE DATA; Schema: public; Owner: postgres
--

COPY public.imgs (id, product_id, url) FROM stdin;
1	1	https://img.example/1.png
2	2	https://img.example/2.png
3	3	https://img.example/3.png
4	4	https://img.example/4.png
5	5	https://img.example/5.png
6	6	https://img.example/6.png
7	7	https://img.example/7.png
8	8	https://img.example/8.png
9	\N	https://img.example/9.png
10	\N	https://img.example/10.png
11	\N	https://img.example/11.png
\.


--
-- Data for Name: colors; Type: TABLE DATA; Schema: public; Owner: postgres
--

COPY public.colors (id, img_id, product_id, name) FROM stdin;
1	1	2	color 1
2	2	3	color 2
3	\N	4	color 3
4	4	5	color 4
5	5	6	color 5
6	\N	7	color 6
\.


--
-- Data for Name: orders; Type: TABLE DATA; Schema: public; Owner: postgres
--

COPY public.orders (id, user_id, total) FROM stdin;
1	2	11.50
2	3	23.00
3	4	34.50
4	5	46.00
5	1	57.50
6	2	69.00
\.


--
-- Data for Name: stores; Type: TABLE DATA; Schema: public; Owner: postgres
--

COPY public.stores (id, manager_id, name) FROM stdin;
1	1	Main Street
2	3	Harbour
\.


--
-- Data for Name: staff; Type: TABLE DATA; Schema: public; Owner: postgres
--

COPY public.staff (id, store_id, name) FROM stdin;
1	1	Ada
2	1	Grace
3	2	Edsger
\.


--
-- Name: carts_id_seq; Type: SEQUENCE SET; Schema: public; Owner: postgres
--

SELECT pg_catalog.setval('public.carts_id_seq', 4, true);


--
-- Name: categories_id_seq; Type: SEQUENCE SET; Schema: public; Owner: postgres
--

SELECT pg_catalog.setval('public.categories_id_seq', 4, true);


--
-- Name: colors_id_seq; Type: SEQUENCE SET; Schema: public; Owner: postgres
--

SELECT pg_catalog.setval('public.colors_id_seq', 6, true);


--
-- Name: imgs_id_seq; Type: SEQUENCE SET; Schema: public; Owner: postgres
--

SELECT pg_catalog.setval('public.imgs_id_seq', 11, true);


--
-- Name: orders_id_seq; Type: SEQUENCE SET; Schema: public; Owner: postgres
--

SELECT pg_catalog.setval('public.orders_id_seq', 6, true);


--
-- Name: products_id_seq; Type: SEQUENCE SET; Schema: public; Owner: postgres
--

SELECT pg_catalog.setval('public.products_id_seq', 8, true);


--
-- Name: users_id_seq; Type: SEQUENCE SET; Schema: public; Owner: postgres
--

SELECT pg_catalog.setval('public.users_id_seq', 5, true);


--
-- PostgreSQL database dump complete
--

\unrestrict TiTrASPf7M5fyoaRBaEEzRiSmSbBc3XKvj8qucEHdPu17bbZrdezeVxiqEilWJ2

