// The recommend page: a MovieLens user's top 10 unseen movies, "movies like this" by cosine
// similarity of item vectors, and a new user folded in from your ratings, all with TF.js on the
// job's exported factors (recommender/factors.json, recommender/movies.json).
//
// Fold-in (the same formula as the recommender recipe's fold_in, which the server uses):
//   (v, b_u) = argmin Σ_m (r_m − b_0 − b_m − b_u − ⟨v, w_m⟩)² + λ‖v‖² + λ_b b_u²
// i.e. (XᵀX + diag(λ,…,λ,λ_b)) [v; b_u] = Xᵀy with rows X_m = [w_m, 1], y_m = r_m − b_0 − b_m.
// TF.js builds XᵀX and Xᵀy (tf.gather + tf.matMul); TF.js has no linear solver, so the small
// (k+1)×(k+1) system is solved by a Cholesky factorisation in float64 JavaScript.

const config = JSON.parse(document.getElementById("try-config").textContent);
const csrfToken = document.querySelector("[name=csrfmiddlewaretoken]").value;
const $ = (id) => document.getElementById(id);
const TOP = 10;

let model = null;   // {k, l2, biasL2, b0, W (tf n×k), Wn (row-normalised), bm (tf n), users, userBias, rated}
let movies = [];
const myRatings = new Map();  // item index → rating

function showError(message) {
  $("error").textContent = message;
  $("error").hidden = !message;
}

const title = (i) => (movies[i] ? `${movies[i].title}` : `movie ${i + 1}`);

// ---- maths --------------------------------------------------------------------------------------

/** Solves A x = b for a symmetric positive definite A (row-major Float64Array, n×n). */
export function choleskySolve(A, b, n) {
  const L = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      let sum = A[i * n + j];
      for (let p = 0; p < j; p++) sum -= L[i * n + p] * L[j * n + p];
      if (i === j) {
        if (sum <= 0) throw new Error("the fold-in system is not positive definite");
        L[i * n + i] = Math.sqrt(sum);
      } else {
        L[i * n + j] = sum / L[j * n + j];
      }
    }
  }
  const y = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let sum = b[i];
    for (let p = 0; p < i; p++) sum -= L[i * n + p] * y[p];
    y[i] = sum / L[i * n + i];
  }
  const x = new Float64Array(n);
  for (let i = n - 1; i >= 0; i--) {
    let sum = y[i];
    for (let p = i + 1; p < n; p++) sum -= L[p * n + i] * x[p];
    x[i] = sum / L[i * n + i];
  }
  return x;
}

/** Returns {vector, bias} for a new user from Map(item index → rating). */
export function foldIn(ratings) {
  const items = [...ratings.keys()];
  const values = [...ratings.values()];
  const k = model.k, n = k + 1;
  const [gram, rhs] = tf.tidy(() => {
    const index = tf.tensor1d(items, "int32");
    const X = tf.concat([tf.gather(model.W, index), tf.ones([items.length, 1])], 1);
    const y = tf.tensor1d(values).sub(model.b0).sub(tf.gather(model.bm, index)).expandDims(1);
    return [tf.matMul(X, X, true, false).dataSync(), tf.matMul(X, y, true, false).dataSync()];
  });
  const A = Float64Array.from(gram);
  for (let i = 0; i < k; i++) A[i * n + i] += model.l2;
  A[k * n + k] += model.biasL2;
  const x = choleskySolve(A, Float64Array.from(rhs), n);
  return { vector: Array.from(x.slice(0, k)), bias: x[k] };
}

/** Predicted rating of every item for a user vector and bias: W v + b_m + b_0 + b_u. */
function scoresFor(vector, bias) {
  return tf.tidy(() => tf.matMul(model.W, tf.tensor2d(vector, [model.k, 1])).squeeze()
    .add(model.bm).add(model.b0 + bias).dataSync());
}

/** The n best items not in `exclude`; ties go to the lower id (as on the server). */
function topItems(scores, exclude, n = TOP) {
  const skip = new Set(exclude);
  const order = [];
  for (let i = 0; i < scores.length; i++) if (!skip.has(i)) order.push(i);
  order.sort((a, b) => scores[b] - scores[a] || a - b);
  return order.slice(0, n).map((i) => ({ item: i, score: scores[i] }));
}

/** Recommendations for your ratings: [{movie (MovieLens id), score}]. */
export function recommendFor(ratings) {
  const { vector, bias } = foldIn(ratings);
  return topItems(scoresFor(vector, bias), [...ratings.keys()]).map(({ item, score }) => ({ movie: item + 1, score }));
}

function similarTo(item) {
  const cosine = tf.tidy(() => tf.matMul(model.Wn, model.Wn.slice([item, 0], [1, model.k]), false, true).squeeze().dataSync());
  return topItems(cosine, [item]);
}

// ---- rendering ----------------------------------------------------------------------------------

function fillTable(table, rows, format = (s) => s.toFixed(3)) {
  const body = $(table).querySelector("tbody");
  body.replaceChildren(...rows.map(({ item, score }, rank) => {
    const tr = document.createElement("tr");
    tr.dataset.movie = String(item + 1);
    tr.dataset.score = String(score);
    for (const text of [String(rank + 1), title(item), format(score)]) {
      const td = document.createElement("td");
      td.textContent = text;
      tr.append(td);
    }
    return tr;
  }));
  $(table).dataset.count = String(rows.length);
}

function showUser() {
  const user = Number($("user").value) - 1;
  const scores = scoresFor(model.users[user], model.userBias[user]);
  fillTable("user-recs", topItems(scores, model.rated[user]));
}

function showSimilar() {
  fillTable("similar", similarTo(Number($("like-movie").value) - 1), (s) => s.toFixed(3));
}

function showMine() {
  $("my-ratings").replaceChildren(...[...myRatings].map(([item, rating]) => {
    const li = document.createElement("li");
    li.textContent = `${title(item)}: ${rating} ★`;
    return li;
  }));
  $("server-recs").querySelector("tbody").replaceChildren();
  $("agreement").textContent = "";
  if (myRatings.size === 0) {
    fillTable("my-recs", []);
    $("fold-status").textContent = "Rate a movie to get recommendations; they update as you rate.";
    return;
  }
  const started = performance.now();
  const recs = recommendFor(myRatings);
  fillTable("my-recs", recs.map(({ movie, score }) => ({ item: movie - 1, score })));
  $("my-recs").dataset.ratings = String(myRatings.size);
  $("fold-status").textContent = `Folded in ${myRatings.size} rating(s) in ${(performance.now() - started).toFixed(1)} ms.`;
}

async function askServer() {
  const ratings = [...myRatings].map(([item, rating]) => ({ movie: item + 1, rating }));
  if (!ratings.length) return showError("Rate at least one movie first.");
  showError("");
  const response = await fetch(config.recommendUrl, {
    method: "POST", credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken },
    body: JSON.stringify({ ratings, top: TOP }),
  });
  const body = await response.json();
  if (!response.ok) return showError(`The server said: ${body.detail || JSON.stringify(body)}`);
  fillTable("server-recs", body.recommendations.map(({ movie, score }) => ({ item: movie - 1, score })));
  const mine = [...$("my-recs").querySelectorAll("tbody tr")].map((tr) => [Number(tr.dataset.movie), Number(tr.dataset.score)]);
  const sameIds = mine.length === body.recommendations.length && mine.every(([m], i) => m === body.recommendations[i].movie);
  const gap = Math.max(0, ...mine.map(([, s], i) => Math.abs(s - (body.recommendations[i]?.score ?? Infinity))));
  $("agreement").textContent = sameIds ? `Same movies in the same order; largest score difference ${gap.toExponential(1)}.`
                                       : "The server's list differs from the browser's.";
}

function options(select, entries) {
  select.replaceChildren(...entries.map(([value, label]) => new Option(label, value)));
}

// ---- start --------------------------------------------------------------------------------------

async function load() {
  const [factors, movieList] = await Promise.all([config.files.factors, config.files.movies].map(async (url) => {
    const response = await fetch(url, { credentials: "same-origin" });
    if (!response.ok) throw new Error(`${url} answered ${response.status}`);
    return response.json();
  }));
  movies = movieList;
  const W = tf.tensor2d(factors.item_factors);
  model = {
    k: factors.factors, l2: factors.l2, biasL2: factors.bias_l2, b0: factors.global_bias,
    W, Wn: tf.tidy(() => W.div(W.norm("euclidean", 1, true).maximum(1e-12))), bm: tf.tensor1d(factors.item_bias),
    users: factors.user_factors, userBias: factors.user_bias, rated: factors.rated,
  };
  // Popular movies first: they are the ones people can rate, and the easiest to recognise.
  const byPopularity = movies.map((_, i) => i).sort((a, b) => factors.rating_counts[b] - factors.rating_counts[a] || a - b);
  const movieOptions = byPopularity.map((i) => [String(i + 1), `${title(i)} · ${factors.rating_counts[i]} ratings`]);
  options($("rate-movie"), movieOptions);
  options($("like-movie"), movieOptions);
  options($("user"), factors.user_bias.map((_, u) => [String(u + 1), `user ${u + 1} (${factors.rated[u].length} ratings)`]));
  $("backend").textContent = tf.getBackend();
  $("model-status").textContent = `${movies.length} movies × ${model.k} factors, λ = ${model.l2}`;
  const m = config.testMetrics;
  if (m.rmse !== undefined) {
    $("test-metrics").textContent = `Test RMSE ${m.rmse.toFixed(4)} (global mean ${m.global_mean_rmse?.toFixed(4)}, `
      + `biases only ${m.biases_rmse?.toFixed(4)}) · precision@10 ${m.precision_at_10?.toFixed(3)}`;
  }
  showUser();
  showSimilar();
  showMine();
  $("user").addEventListener("change", showUser);
  $("like-movie").addEventListener("change", showSimilar);
  $("rate-add").addEventListener("click", () => {
    myRatings.set(Number($("rate-movie").value) - 1, Number($("rate-value").value));
    showMine();
  });
  $("rate-clear").addEventListener("click", () => { myRatings.clear(); showMine(); });
  $("ask").addEventListener("click", () => askServer().catch((e) => showError(`Could not ask the server: ${e.message}`)));
  document.body.dataset.recommender = "ready";
}

window.recommender = { foldIn, recommendFor, choleskySolve, myRatings };
load().catch((error) => {
  $("model-status").textContent = "failed to load";
  showError(`Could not load the job's factors (${error.message}). Reload the page.`);
});
