// A frontend as the seeds describe it, in plain JavaScript: it walks both flows against the API of
// the page's own origin. Sign-in asks the local stack for a development token (local only).
const api = window.location.origin;
const page = window.location.pathname.replace(/^\/demo/, "").replace(/\/$/, "") || "/";
const params = new URLSearchParams(window.location.search);
const $ = (id) => document.getElementById(id);

function token() { return localStorage.getItem("token"); }

function say(text, isError = false) {
  $("message").textContent = text;
  $("message").className = isError ? "error" : "";
}

async function call(method, path, body) {
  const response = await fetch(api + path, {
    method,
    headers: { "Content-Type": "application/json", Authorization: "Bearer " + token() },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = await response.json();
  if (!response.ok) throw Object.assign(new Error(data.error || response.statusText), { status: response.status, data });
  return data;
}

function showTicket(title, data) {
  $("result").hidden = false;
  $("result-title").textContent = title;
  $("ticket-qr").src = "data:image/png;base64," + data.qr_code_data;
  $("ticket-qr").hidden = false;
  $("ticket-code").textContent = "Ticket #" + data.ticket_id + " · code " + data.ticket_code;
}

function showResult(title, text) {
  $("result").hidden = false;
  $("result-title").textContent = title;
  $("ticket-qr").hidden = true;
  $("ticket-code").textContent = text;
}

async function signIn(event) {
  if (event) event.preventDefault();
  const response = await fetch(api + "/_local/token", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ user_id: $("user-id").value, staff: $("staff").checked }),
  });
  const data = await response.json();
  localStorage.setItem("token", data.token);
  localStorage.setItem("user", $("user-id").value);
  localStorage.setItem("staff", $("staff").checked ? "1" : "");
  renderWho();
  await loadEvents();
  await loadMyTickets();
}

function renderWho() {
  const user = localStorage.getItem("user");
  if (user) $("user-id").value = user;
  $("who").textContent = user ? "Signed in as " + user + (localStorage.getItem("staff") ? " (staff)" : "") : "Not signed in";
  $("new-event").hidden = !localStorage.getItem("staff");
  $("door").hidden = !localStorage.getItem("staff");
}

async function loadMyTickets() {
  if (!token()) return;
  const data = await call("GET", "/api/tickets/?limit=20");
  if (!data.tickets.length) {
    $("my-tickets").innerHTML = "<li>No tickets yet</li>";
    return;
  }
  $("my-tickets").replaceChildren(...data.tickets.map((ticket) => {
    const item = document.createElement("li");
    item.dataset.ticketId = ticket.ticket_id;
    item.innerHTML = "<span></span> <button>Show</button>";
    item.querySelector("span").textContent = "Ticket #" + ticket.ticket_id + " — event " + ticket.event_id + " — " + ticket.quantity
      + " × — " + ticket.status + (ticket.checked_in ? " — " + ticket.checked_in + " admitted" : "");
    item.querySelector("button").addEventListener("click", () => showMyTicket(ticket.ticket_id));
    return item;
  }));
}

async function showMyTicket(ticketId) {
  try {
    const ticket = await call("GET", "/api/tickets/" + ticketId + "/");
    if (ticket.qr_code_data) showTicket("Ticket #" + ticket.ticket_id + " (" + ticket.checked_in + " of " + ticket.quantity + " admitted)", ticket);
    else showResult("Ticket #" + ticket.ticket_id + " is " + ticket.status, "No door pass: the ticket is not valid at the door");
    say("");
  } catch (error) { say(error.message, true); }
}

function admittedAt(seconds) {
  return seconds ? " at " + new Date(seconds * 1000).toLocaleTimeString() : "";
}

async function checkIn(event) {
  event.preventDefault();
  const entry = document.createElement("li");
  const count = $("check-in-count").value;
  // The door belongs to one event: it sends it, and the API refuses a ticket of any other.
  const door = $("check-in-event").selectedOptions[0];
  const at = door ? " at " + door.textContent : "";
  try {
    const body = { ticket_code: $("check-in-code").value, event_id: door ? Number(door.value) : null };
    if (count) body.count = Number(count);
    const admitted = await call("POST", "/api/tickets/check-in/", body);
    entry.className = "admitted";
    entry.textContent = "Admitted" + at + ": ticket #" + admitted.ticket_id + ", " + admitted.checked_in + " of " + admitted.quantity + " in";
  } catch (error) {
    entry.className = "refused";
    const already = error.status === 409 ? " (" + error.data.checked_in + " of " + error.data.quantity + " in" + admittedAt(error.data.checked_in_at) + ")" : "";
    entry.textContent = "Refused" + at + ": " + error.message + already;
  }
  $("door-log").prepend(entry);
  $("check-in-code").value = "";
  $("check-in-count").value = "";
}

async function loadEvents() {
  if (!token()) return;
  const data = await call("GET", "/api/events/?limit=20");
  $("events").replaceChildren(...data.events.map((event) => {
    const item = document.createElement("li");
    item.dataset.eventId = event.event_id;
    const price = event.is_free ? "free" : event.price + " " + event.currency.toUpperCase();
    const queued = event.on_sale_queue ? " — sold through a queue" : "";
    if (event.on_sale_queue) {
      // A queued event sells only to buyers its queue admitted: the row joins, the queue panel buys.
      item.innerHTML = "<span></span><span><button class='join'>Join queue</button></span>";
      item.querySelector("button.join").addEventListener("click", () => joinQueue(event));
    } else {
      item.innerHTML = "<span></span><span><input type='number' min='1' max='10' value='1' size='3' aria-label='Quantity'> <button class='buy'>Buy</button></span>";
      item.querySelector("button.buy").addEventListener("click", () => buy(event, Number(item.querySelector("input").value)));
      if (localStorage.getItem("staff")) {
        const enable = Object.assign(document.createElement("button"), { className: "enable", textContent: "Enable queue" });
        enable.addEventListener("click", () => enableQueue(event));
        item.lastChild.append(" ", enable);
      }
    }
    item.querySelector("span").textContent = event.name + " — " + price + " — " + event.available + " left" + queued;
    return item;
  }));
  // The door's choice of event, kept across reloads of the list.
  const chosen = $("check-in-event").value;
  $("check-in-event").replaceChildren(...data.events.map((event) => {
    const option = document.createElement("option");
    option.value = event.event_id;
    option.textContent = "event " + event.event_id + " (" + event.name + ")";
    return option;
  }));
  if (chosen) $("check-in-event").value = chosen;
}

async function buy(event, quantity, queuePass) {
  try {
    const body = { event_id: event.event_id, quantity };
    if (queuePass) body.queue_pass = queuePass;
    const data = await call("POST", "/api/payments/create-payment-intent/", body);
    if (data.qr_code_data) {
      showTicket(data.detail, data);
      say("Free ticket issued");
      await loadEvents();
      await loadMyTickets();
    } else {
      localStorage.setItem("pending", JSON.stringify({ ticket_id: data.ticket_id, session_id: data.session_id }));
      say("Redirecting to Checkout…");
      window.location.href = data.checkout_url;
    }
  } catch (error) { say(error.message, true); }
}

async function createEvent(event) {
  event.preventDefault();
  try {
    const created = await call("POST", "/api/events/", {
      name: $("event-name").value, price: Number($("event-price").value), currency: $("event-currency").value, capacity: Number($("event-capacity").value),
      on_sale_queue: $("event-queue").checked,
    });
    say("Event " + created.event_id + " created" + (created.on_sale_queue ? ", sold through its queue" : ""));
    await loadEvents();
  } catch (error) { say(error.message, true); }
}

async function enableQueue(event) {
  try {
    await call("POST", "/api/events/" + event.event_id + "/queue/enable/");
    await loadEvents();
    say("Event " + event.event_id + " now sells through its queue");
  } catch (error) { say(error.message, true); }
}

// The on-sale queue: join, then follow the queue's status (queue_status_url: one answer for every
// waiting buyer, which a CDN keeps a second; no token, the URL carries the pass) as often as it says
// (poll_after_ms, 2 s). The page knows its place from the join, so the status alone tells it its
// wait and "sold out"; it asks for its own place only once the status has admitted it (for the
// admission's window and a fresh pass), when the pass nears its end, or when the status refuses it.
const QUEUE_POLL_MS = 2000;
const PASS_MARGIN_S = 60;
let queue = null; // { event, answer, timer }

function queueText(answer) {
  if (answer.status === "waiting") {
    const wait = answer.estimated_wait_seconds === null
      ? "no estimate: the seats left are held for buyers admitted ahead of you, and the queue moves when they buy or their admission lapses"
      : "about " + answer.estimated_wait_seconds + " s to go";
    return "Waiting: admitted up to place " + answer.admitted_to + "; " + wait;
  }
  if (answer.status === "admitted") return "Admitted: buy before " + new Date(answer.admission_expires_at * 1000).toLocaleTimeString();
  if (answer.status === "sold_out") return "Sold out. If seats come back (a checkout left unpaid), the queue moves again: this page keeps asking.";
  if (answer.status === "expired") return "Your admission expired unused.";
  if (answer.status === "used") return "You used your admission: your ticket is in My tickets.";
  return answer.status;
}

function render(answer) {
  // The seats left in the list move with the queue: read again when the status changes.
  if (queue.answer && queue.answer.status !== answer.status) loadEvents().catch((error) => say(error.message, true));
  queue.answer = answer;
  $("queue").hidden = false;
  $("queue").className = answer.status === "sold_out" ? "sold-out" : "";
  $("queue-title").textContent = "Queue for " + queue.event.name + " — place " + answer.place;
  $("queue-status").textContent = queueText(answer);
  $("queue-buy").hidden = answer.status !== "admitted";
}

function showPlace(answer) {
  // One's own place (a join or place answer): while waiting or sold out, the status is followed.
  render(answer);
  if (answer.status === "waiting" || answer.status === "sold_out") nextPoll(QUEUE_POLL_MS);
}

// What the status says of one's place, or null when it has admitted it (one's own place tells the rest).
function fromStatus(answer, status) {
  if (status.admitted_to >= answer.place) return null;
  const wait = status.sold_out || status.seat_bound ? null : Math.ceil((answer.place - status.admitted_to) / status.admission_rate_per_second);
  return { ...answer, status: status.sold_out ? "sold_out" : "waiting", admitted_to: status.admitted_to, estimated_wait_seconds: wait };
}

function nextPoll(hintMs) {
  // A hint of 0 or less would poll in a loop: a quarter of a second at least.
  const delay = Number.isFinite(hintMs) ? Math.max(hintMs, 250) : QUEUE_POLL_MS;
  queue.timer = setTimeout(pollQueue, delay);
}

async function pollPlace(current) {
  const answer = await call("GET", "/api/events/" + current.event.event_id + "/queue/");
  if (queue === current) showPlace(answer);
}

async function pollQueue() {
  const current = queue;
  try {
    if (current.answer.queue_pass_expires_at - PASS_MARGIN_S <= Date.now() / 1000) return await pollPlace(current);
    const response = await fetch(current.answer.queue_status_url);
    // A pass refused (expired meanwhile): one's place answers a fresh one, with a fresh URL.
    if (!response.ok) return await pollPlace(current);
    const status = await response.json();
    if (queue !== current) return;
    const seen = fromStatus(current.answer, status);
    if (seen === null) return await pollPlace(current);
    render(seen);
    nextPoll(status.poll_after_ms);
  } catch (error) {
    say(error.message, true);
    if (queue === current) nextPoll();
  }
}

async function joinQueue(event) {
  if (queue) clearTimeout(queue.timer);
  queue = { event };
  try {
    showPlace(await call("POST", "/api/events/" + event.event_id + "/queue/"));
    say("");
  } catch (error) { say(error.message, true); }
}

async function payWithStripe() {
  try {
    const intent = await call("POST", "/api/v1/payments/stripe/create-payment-intent/", { amount: 12.5, currency: "eur", metadata: { source: "demo" } });
    // A real frontend hands client_secret to Stripe.js; the demo confirms with Stripe's test card.
    const confirmed = await call("POST", "/api/v1/payments/stripe/confirm-payment/", { payment_intent_id: intent.payment_intent_id, payment_method: "pm_card_visa" });
    showResult(confirmed.confirmed ? "Stripe payment succeeded" : "Stripe payment needs action", intent.payment_intent_id + " · " + confirmed.status);
    say("");
  } catch (error) { say(error.message, true); }
}

async function payWithPayPal() {
  try {
    const order = await call("POST", "/api/v1/payments/paypal/create-order/", { amount: 29.99, currency: "USD", description: "Demo order" });
    window.location.href = order.approval_url;
  } catch (error) { say(error.message, true); }
}

async function route() {
  renderWho();
  $("sign-in").addEventListener("submit", signIn);
  $("new-event").addEventListener("submit", createEvent);
  $("stripe-pay").addEventListener("click", payWithStripe);
  $("paypal-pay").addEventListener("click", payWithPayPal);
  $("check-in").addEventListener("submit", checkIn);
  $("queue-buy-button").addEventListener("click", () => buy(queue.event, Number($("queue-quantity").value), queue.answer.queue_pass));
  try {
    if (page === "/payment/success") {
      const verified = await call("POST", "/api/payments/verify/", { session_id: params.get("session_id"), ticket_id: params.get("ticket_id") });
      showTicket(verified.detail, verified);
      say("Payment verified");
    } else if (page === "/payment/cancel") {
      const cancelled = await call("POST", "/api/payments/cancel/", { ticket_id: params.get("ticket_id") });
      showResult(cancelled.detail, "Ticket #" + params.get("ticket_id") + " released");
      say("Reservation cancelled");
    } else if (page === "/paypal/return") {
      const captured = await call("POST", "/api/v1/payments/paypal/capture-order/", { order_id: params.get("token") });
      showResult(captured.captured ? "PayPal payment captured" : "PayPal payment not captured", captured.order_id + " · capture " + captured.capture_id);
      say("");
    } else if (page === "/paypal/cancel") {
      showResult("PayPal payment cancelled", "Order " + params.get("token"));
    }
  } catch (error) { say(error.message, true); }
  await loadEvents().catch((error) => say(error.message, true));
  await loadMyTickets().catch((error) => say(error.message, true));
}

route();
