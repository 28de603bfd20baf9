// value_codec: the binary layout of the values that records and kept answers carry (a coupon
// template, a user coupon, an order, a sale fact, a cart line, a balance), shared by every
// writer and reader so that one value has one layout. Layout rules are codec.h's.
#pragma once

#include "engine/cart_commands.h"
#include "engine/codec.h"
#include "engine/coupon_types.h"
#include "engine/order_types.h"
#include "engine/user_commands.h"

namespace ecom::engine {

void write_value(payload_writer& w, const coupon_template& c);
void read_value(payload_reader& in, coupon_template& c);

void write_value(payload_writer& w, const user_coupon_view& c);
void read_value(payload_reader& in, user_coupon_view& c);

// Orders are also kept by the event feed as they were at the event.
void write_value(payload_writer& w, const order_view& order);
void read_value(payload_reader& in, order_view& order);  // fails beyond checkout_lines_max

void write_value(payload_writer& w, const sale_fact& fact);
void read_value(payload_reader& in, sale_fact& fact);

void write_value(payload_writer& w, const cart_item_view& item);
void read_value(payload_reader& in, cart_item_view& item);

void write_value(payload_writer& w, const balance_entry& entry);
void read_value(payload_reader& in, balance_entry& entry);

void write_value(payload_writer& w, const balance_view& balance);
void read_value(payload_reader& in, balance_view& balance);

}  // namespace ecom::engine
