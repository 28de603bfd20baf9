#!/usr/bin/env python3
# Writes the seed corpus of fuzz_http_request (tests/fuzz/corpus/http_request/): what one client
# sends on one connection, as the e2e tests send it, one file per area of the API. The ids are
# the ones a fresh fuzz server hands out (users 3 and 5, product 2 with combinations 6 and 8,
# coupon and campaign 2, order 3), and U3 is user 3's access token as the target's signer makes
# it at its fixed clock ("fuzz-token-secret", 2027-01-15T08:00:00Z, 900 s), so the requests
# reach the routes' deeper paths. ECOM_FUZZ_HTTP_PRINT=1 build-fuzz/bin/fuzz_http_request FILE
# prints every answer. Usage: tests/fuzz/make_http_seeds.py tests/fuzz/corpus/http_request
import json
import os
import sys

ADMIN = "Bearer fuzz-admin-token"
def req(method, path, body=None, auth=ADMIN, headers=(), ctype="application/json", version="1.1"):
    lines = [f"{method} {path} HTTP/{version}", "Host: ecomd"]
    if auth: lines.append(f"Authorization: {auth}")
    lines += list(headers)
    b = b""
    if body is not None:
        b = (body if isinstance(body, str) else json.dumps(body, separators=(",", ":"))).encode()
        if ctype: lines.append(f"Content-Type: {ctype}")
        lines.append(f"Content-Length: {len(b)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + b
def write(path, *reqs):
    open(path, "wb").write(b"".join(reqs))
out = sys.argv[1]
os.makedirs(out, exist_ok=True)
U3 = "Bearer v1.AwAAAAAAAACE1UlrAAAAAA.gW-Dy9MDAx6uTSDMKc1o26U8pDCu__16y4KF6TrFwQQ"
user1 = req("POST","/users",{"name":"Fuzz One","email":"one@fuzz.dev","password":"password1"},auth=None)
user2 = req("POST","/users",{"name":"Fuzz Two","email":"two@fuzz.dev","password":"password2"},auth=None)
product = req("POST","/admin/products",{"name":"Shoe","base_price":1000,"options":[{"name":"size","values":["s","m"]}],
  "combinations":[{"options":{"size":"s"},"additional_price":0,"stock":5},{"options":{"size":"m"},"additional_price":200,"stock":3}]})
charge = req("POST","/users/3/balance/charge",{"amount":50000},auth=U3,headers=["Idempotency-Key: charge-1"])
def w(name, *r): write(os.path.join(out, name), *r)
w("ops", req("GET","/healthz",auth=None), req("HEAD","/readyz",auth=None), req("GET","/metrics",auth=None),
  req("GET","/admin/stats"), req("POST","/admin/snapshot"), req("GET","/admin/snapshots"),
  req("OPTIONS","/users"), req("DELETE","/healthz"), req("GET","/nowhere/1"), req("GET","/docs",auth=None,headers=["Connection: close"]))
w("users", user1, req("POST","/auth/login",{"email":"one@fuzz.dev","password":"password1"},auth=None),
  req("GET","/users/3",auth=U3), req("GET","/users/5",auth=U3), req("GET","/users/03"),
  req("POST","/auth/refresh",{"refresh_token":"r1.3.AAAA"},auth=None),
  req("POST","/auth/logout",{"refresh_token":"r1.3.AAAA"},auth=None),
  req("POST","/admin/users/bulk",{"count":3,"name_prefix":"bulk"}),
  req("POST","/users",{"name":"x","email":"bad","password":"short"},auth=None))
w("balance", user1, charge, charge, req("GET","/users/3/balance",auth=U3),
  req("POST","/users/3/balance/charge",{"amount":7},auth=U3,headers=["Idempotency-Key: charge-1"]),
  req("GET","/users/3/balance/history?limit=1",auth=U3),
  req("GET","/users/3/balance/history?limit=1&cursor=YzoxMA",auth=U3),
  req("POST","/users/3/balance/charge",'{"amount": 5, "x": n\bll}',auth=U3))
w("catalog", product, req("PATCH","/admin/products/2",{"name":"Boot","is_active":True,"description":"warm"}),
  req("POST","/admin/products/2/combinations/2/stock",{"delta":-2}),
  req("GET","/products?limit=1",auth=None), req("GET","/products/2",auth=None),
  req("GET","/products/popular?days=7",auth=None), req("GET","/products?cursor=Yzox",auth=None))
w("coupons", user1, req("POST","/admin/coupons",{"name":"Ten off","type":"FIXED","amount":10,"min_order_amount":100,"valid_days":30}),
  req("POST","/admin/fcfs-coupons",{"coupon_id":2,"total_quantity":2,"start_at":"2027-01-01T00:00:00Z","end_at":"2027-12-31T00:00:00+09:00"}),
  req("GET","/coupons/fcfs?limit=5",auth=None), req("GET","/coupons/fcfs/2",auth=None),
  req("POST","/coupons/fcfs/2/issue",auth=U3,headers=["Idempotency-Key: issue-1"]),
  req("POST","/coupons/fcfs/2/issue",auth=U3),
  req("GET","/users/3/coupons?status=AVAILABLE",auth=U3), req("GET","/users/3/coupons/history",auth=U3))
w("cart", user1, product, req("POST","/users/3/cart/items",{"product_id":2,"combination_id":6,"quantity":2},auth=U3),
  req("PATCH","/users/3/cart/items/3",{"quantity":3},auth=U3), req("GET","/users/3/cart",auth=U3),
  req("DELETE","/users/3/cart/items/4",auth=U3), charge,
  req("POST","/users/3/cart/checkout",{},auth=U3,headers=["Idempotency-Key: checkout-1"]))
w("orders", user1, charge, product,
  req("POST","/users/3/orders",{"items":[{"product_id":2,"combination_id":6,"quantity":1},{"product_id":2,"combination_id":8,"quantity":1}]},auth=U3),
  req("GET","/users/3/orders?status=PENDING_PAYMENT",auth=U3), req("GET","/users/3/orders/3",auth=U3),
  req("POST","/users/3/orders/3/payment",auth=U3,headers=["Idempotency-Key: pay-1"]),
  req("POST","/users/3/orders/3/cancel",auth=U3),
  req("GET","/admin/events?after=0&limit=10"), req("GET","/admin/events?after=50&wait_ms=1500"))
w("wire", b"GET /healthz HTTP/1.0\r\nConnection: keep-alive\r\n\r\n" +
  b"POST /users HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Type: application/json\r\nExpect: 100-continue\r\n\r\n5\r\n{\"nam\r\n4\r\ne\":1\r\n1\r\n}\r\n0\r\n\r\n" +
  b"GET /healthz?x=%zz HTTP/1.1\r\nX-Request-Id: abc\r\nIdempotency-Key: \x01\r\n\r\n" +
  b"GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n")
w("too_large", req("GET","/healthz",auth=None), b"POST /users HTTP/1.1\r\nHost: x\r\nContent-Length: 2000000\r\n\r\n{")
w("malformed", b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGE\x01T / HTTP/9.9\r\n\r\n")
