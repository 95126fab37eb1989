// Package push delivers what the server publishes out of itself: the
// platform-signed documents for the provincial platform (信息公开: the
// opening record's summary, the candidates' publicity, the results) and
// the read-out's price alerts to supervisors (SMS gateway, webhook,
// e-mail). Its Dispatcher finds the source events in the rooms, queues
// each document once in the outbox room (rooms/outbox.go, whose log is
// the durable state) and delivers it with retries, recording every
// attempt there. It owns no rule of a room and no storage of its own.
package push
